"""mypy --strict and pyright (strict) accept a service with one type argument (issue 17)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "tests" / "typing" / "check_service_types.py"
PYRIGHT = Path(sys.executable).parent / "pyright"


def test_mypy_strict() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(CHECK)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_pyright_strict() -> None:
    if not PYRIGHT.exists():
        pytest.fail(f"pyright is not installed next to {sys.executable}")
    env = {k: v for k, v in os.environ.items() if k != "PYRIGHT_PYTHON_FORCE_VERSION"}
    env["PYRIGHT_PYTHON_USE_BUNDLED_PYRIGHT"] = "1"
    completed = subprocess.run(
        [str(PYRIGHT), "--outputjson", "--pythonpath", sys.executable, str(CHECK)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=False,
    )
    report = json.loads(completed.stdout)
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    assert errors == [], errors
