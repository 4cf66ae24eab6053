"""The type-inference harness: mypy --strict and pyright (strict) on a positive and a negative check file.

The positive file must type-check cleanly; the negative file must fail exactly on its lines marked
``# expect-error``, and at least one error must name ``"Any"`` (the degraded case is reported as
``Any``, not as some other mismatch). Each ``tests/unit/*/test_typing.py`` names its pair of files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ROOT / "tests" / "typing"
PYRIGHT = Path(sys.executable).parent / "pyright"


def _expected_error_lines(negative: Path, count: int) -> set[int]:
    lines = negative.read_text().splitlines()
    expected = {number for number, line in enumerate(lines, start=1) if "# expect-error" in line}
    assert len(expected) == count, f"{negative.name} marks {len(expected)} lines with # expect-error, not {count}"
    return expected


def _errors_by_file(positive: Path, negative: Path, errors: list[tuple[str, int]]) -> dict[str, set[int]]:
    result: dict[str, set[int]] = {positive.name: set(), negative.name: set()}
    for file, line in errors:
        result.setdefault(Path(file).name, set()).add(line)
    return result


def assert_mypy_strict(positive: Path, negative: Path, expected_errors: int) -> None:
    """mypy --strict: no error in ``positive``, exactly the marked lines in ``negative``, one naming ``Any``."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-absolute-path",
            str(positive),
            str(negative),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    output = completed.stdout + completed.stderr
    errors = [
        (m["file"], int(m["line"]))
        for m in re.finditer(r"^(?P<file>[^:\n]+):(?P<line>\d+): error:", output, re.MULTILINE)
    ]
    by_file = _errors_by_file(positive, negative, errors)
    assert by_file[positive.name] == set(), output
    assert by_file[negative.name] == _expected_error_lines(negative, expected_errors), output
    assert '"Any"' in output, output


def assert_pyright_strict(positive: Path, negative: Path, expected_errors: int) -> None:
    """pyright (strict): no error in ``positive``, exactly the marked lines in ``negative``, one naming ``Any``."""
    if not PYRIGHT.exists():
        pytest.fail(f"pyright is not installed next to {sys.executable}")
    # The pip wrapper runs the pyright it bundles on the machine's Node.js: no download as long as
    # no version is forced, and --outputjson also skips its online "new version" check.
    env = {k: v for k, v in os.environ.items() if k != "PYRIGHT_PYTHON_FORCE_VERSION"}
    env["PYRIGHT_PYTHON_USE_BUNDLED_PYRIGHT"] = "1"
    completed = subprocess.run(
        # --pythonpath: this interpreter's packages, not the [tool.pyright] venv (absent in a nox venv).
        [str(PYRIGHT), "--outputjson", "--pythonpath", sys.executable, str(positive), str(negative)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=False,
    )
    report = json.loads(completed.stdout)
    diagnostics = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    # pyright lines are zero-based
    by_file = _errors_by_file(positive, negative, [(d["file"], d["range"]["start"]["line"] + 1) for d in diagnostics])
    assert by_file[positive.name] == set(), diagnostics
    assert by_file[negative.name] == _expected_error_lines(negative, expected_errors), diagnostics
    assert any('"Any"' in d["message"] for d in diagnostics), diagnostics
