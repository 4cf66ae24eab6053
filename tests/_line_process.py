"""A child Python process driven by a line protocol: one command line in, one reply line out; EOF on stdin ends it.

The cross-process tests (a reader or a writer with its own cache client, sharing only the database
and the store with the test) start their helper module with :class:`LineProcess` and talk to it
in lockstep, so every step of the other process has finished before the test goes on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class LineProcess:
    """``python -m module *args`` run from the repository root, with ``tests`` importable."""

    def __init__(self, module: str, *args: object) -> None:
        self.module = module
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *map(str, args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def ask(self, command: str) -> str:
        """Send ``command`` as one line; the reply line, stripped. Fails if the process ends without replying."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(f"{command}\n")
        stdin.flush()
        reply = stdout.readline()
        assert reply, f"{self.module} ended without replying to {command!r} (exit status {self.process.poll()})"
        return reply.strip()

    def close(self, timeout: float = 60) -> int:
        """Close its stdin (the process ends) and wait for it; its exit status."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=timeout)
