"""mypy --strict and pyright (strict) infer the services and filters providers build, never Any."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
POSITIVE = ROOT / "tests" / "typing" / "check_provider_types.py"
NEGATIVE = ROOT / "tests" / "typing" / "check_provider_types_any.py"
PYRIGHT = Path(sys.executable).parent / "pyright"


def _expected_error_lines() -> set[int]:
    lines = NEGATIVE.read_text().splitlines()
    expected = {number for number, line in enumerate(lines, start=1) if "# expect-error" in line}
    assert len(expected) == 2
    return expected


def _errors_by_file(errors: list[tuple[str, int]]) -> dict[str, set[int]]:
    result: dict[str, set[int]] = {POSITIVE.name: set(), NEGATIVE.name: set()}
    for file, line in errors:
        result.setdefault(Path(file).name, set()).add(line)
    return result


def test_mypy_strict() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-absolute-path",
            str(POSITIVE),
            str(NEGATIVE),
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
    by_file = _errors_by_file(errors)
    assert by_file[POSITIVE.name] == set(), output
    assert by_file[NEGATIVE.name] == _expected_error_lines(), output
    assert '"Any"' in output, output  # the degraded case is reported as Any, not as some other mismatch


def test_pyright_strict() -> None:
    if not PYRIGHT.exists():
        pytest.fail(f"pyright is not installed next to {sys.executable}")
    # The pip wrapper runs the pyright it bundles on the machine's Node.js: no download as long as
    # no version is forced, and --outputjson also skips its online "new version" check.
    env = {k: v for k, v in os.environ.items() if k != "PYRIGHT_PYTHON_FORCE_VERSION"}
    env["PYRIGHT_PYTHON_USE_BUNDLED_PYRIGHT"] = "1"
    completed = subprocess.run(
        # --pythonpath: this interpreter's packages, not the [tool.pyright] venv (absent in a nox venv).
        [str(PYRIGHT), "--outputjson", "--pythonpath", sys.executable, str(POSITIVE), str(NEGATIVE)],
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
    by_file = _errors_by_file([(d["file"], d["range"]["start"]["line"] + 1) for d in diagnostics])
    assert by_file[POSITIVE.name] == set(), diagnostics
    assert by_file[NEGATIVE.name] == _expected_error_lines(), diagnostics
    assert any('"Any"' in d["message"] for d in diagnostics), diagnostics
