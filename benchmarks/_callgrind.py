"""Instruction counts with valgrind's callgrind, for benchmarks whose time ratios mix the kit's work with the machine's.

A counted script runs itself under callgrind as a child (``--child <folder>``), runs its cases in interleaved
rounds of ``calls`` calls and calls :func:`dump` after each batch, labelled ``<case>#<round>``: callgrind then
writes the instructions executed since the previous dump to a file of its own. :func:`count` runs the child
and returns the instructions per call of each case, one value per round; :func:`run_rounds` runs the child's
cases so. Counts do not depend on load or
clock speed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


def available() -> bool:
    """Whether valgrind and callgrind_control are on ``PATH`` (Debian's ``valgrind`` package)."""
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


def dump(label: str) -> None:
    """Ask callgrind to write the counts since the last dump, labelled (it answers once written)."""
    subprocess.run(["callgrind_control", "--dump=" + label, str(os.getpid())], check=True, capture_output=True)


async def run_rounds(cases: dict[str, Callable[[], Awaitable[object]]], calls: int, rounds: int) -> None:
    """Warm every case, then ``rounds`` rounds of ``calls`` calls per case (order rotated), a dump after each batch."""
    names = list(cases)
    for name in names:  # every path warm (memos, compiled statements, the store's scripts) before the first count
        for _ in range(50):
            await cases[name]()
    dump("warm")
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            call = cases[name]
            for _ in range(calls):
                await call()
            dump(f"{name}#{round_}")


def count(script: str, cases: tuple[str, ...], calls: int, rounds: int) -> dict[str, list[float]]:
    """Run ``script --child <folder>`` under callgrind; instructions per call of each case, one per round."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}/callgrind.out",
            sys.executable,
            script,
            "--child",
            folder,
        ]
        run = subprocess.run(command, check=False, capture_output=True, text=True, cwd=Path(script).parent)
        if run.returncode:
            msg = f"the counted run failed ({run.returncode}):\n{run.stderr[-3000:]}"
            raise RuntimeError(msg)
        per_call: dict[str, list[float]] = {name: [] for name in cases}
        for path in out.glob("callgrind.out.*"):
            text = path.read_text(errors="replace")
            trigger = re.search(r"^desc: Trigger: dump (.+)$", text, re.MULTILINE)
            total = re.search(r"^totals: (\d+)", text, re.MULTILINE)
            if not (trigger and total and "#" in trigger.group(1)):
                continue
            name = trigger.group(1).rsplit("#", 1)[0].strip()
            if name in per_call:
                per_call[name].append(int(total.group(1)) / calls)
    missing = [name for name, values in per_call.items() if len(values) != rounds]
    if missing:
        msg = f"callgrind dumps missing for {missing}: {[len(per_call[name]) for name in missing]} of {rounds}"
        raise RuntimeError(msg)
    return per_call
