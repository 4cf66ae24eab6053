"""The docs stay true: the API reference lists every public name, and every docs example runs without warnings."""

import gc
import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Litestar resolves handler annotations through the module
    spec.loader.exec_module(module)
    return module


def test_the_api_reference_is_fresh_and_lists_every_public_name() -> None:
    reference = _load(ROOT / "docs" / "_scripts" / "api_reference.py")
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "_scripts" / "api_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = "\n".join(path.read_text() for path in (ROOT / "docs" / "reference").glob("*.rst"))
    for package in reference.public_packages():
        for name in reference.public_names(package):
            assert f"{package}.{name}" in text, f"{package}.{name} is not in docs/reference"


@pytest.mark.parametrize("path", sorted((ROOT / "docs" / "examples").glob("*.py")), ids=lambda path: path.stem)
def test_docs_examples_run_without_warnings(path: Path) -> None:
    # Garbage of earlier tests is collected first: a ResourceWarning it raises under "error" would be
    # blamed on this example. What the example itself leaves is collected inside.
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _load(path).main()
        gc.collect()
