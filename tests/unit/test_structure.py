"""The layout guards itself: complete sorted ``__all__``, imports only downward, no private cross-imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT_PACKAGE = "litestar_alchemy_kit"
PACKAGES = sorted(".".join(path.parent.relative_to(SRC).parts) for path in (SRC / ROOT_PACKAGE).rglob("__init__.py"))

# What each package of the kit may import from the others (the rest of itself is always allowed).
# cache <- orm <- repository <- service <- providers <- plugin; auth and errors stand alone;
# response_cache uses cache and orm. The base modules sit below everything: every layer may
# import them and they import nothing from the kit. Other top-level modules (the package
# ``__init__``, ``testing``, deprecated shims) sit above everything.
ALLOWED: dict[str, frozenset[str]] = {
    "cache": frozenset(),
    "orm": frozenset({"cache"}),
    "repository": frozenset({"cache", "orm"}),
    "service": frozenset({"cache", "orm", "repository"}),
    # Scoped providers read the caller's AuthContext: auth stands alone (imports no other layer), providers use it.
    "providers": frozenset({"cache", "orm", "repository", "service", "auth"}),
    "plugin": frozenset({"cache", "orm", "repository", "service", "providers", "response_cache", "auth", "errors"}),
    "response_cache": frozenset({"cache", "orm"}),
    "auth": frozenset(),
    "errors": frozenset(),
}
BASE = frozenset(
    {
        f"{ROOT_PACKAGE}._deprecation",
        f"{ROOT_PACKAGE}._passthrough",
        f"{ROOT_PACKAGE}.canonical",
        f"{ROOT_PACKAGE}.exceptions",
        f"{ROOT_PACKAGE}.formats",
    }
)
# Third-party packages a layer must not touch.
FORBIDDEN_THIRD_PARTY: dict[str, tuple[str, ...]] = {"cache": ("sqlalchemy", "advanced_alchemy")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute module an import statement of ``path`` names (``from a import b`` gives ``a`` and ``a.b``)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and f"{ROOT_PACKAGE}.{parts[1]}" in PACKAGES) else None


def _violations() -> list[str]:
    found: list[str] = []
    for path in sorted((SRC / ROOT_PACKAGE).rglob("*.py")):
        importer = _module_name(path)
        layer = _layer(importer)
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        reported: set[tuple[int, str]] = set()
        for line, imported in _imports(path):
            where = f"{path.relative_to(SRC)}:{line} imports {imported}"
            top = imported.split(".")[0]
            if importer in BASE and top == ROOT_PACKAGE and (line, "base") not in reported:
                reported.add((line, "base"))
                found.append(f"{where}: base module imports nothing from the kit")
            if layer is not None and top in FORBIDDEN_THIRD_PARTY.get(layer, ()):
                found.append(f"{where}: {layer} imports nothing from {top}")
            if top != ROOT_PACKAGE or any(imported == base or imported.startswith(f"{base}.") for base in BASE):
                continue
            target = _layer(imported)
            forbidden = layer is not None and target is not None and target not in {layer, *ALLOWED[layer]}
            if forbidden and (line, target) not in reported:
                reported.add((line, str(target)))
                found.append(f"{where}: {layer} may not import {target}")
            parts = imported.split(".")
            for index, part in enumerate(parts[1:], start=1):
                owner = ".".join(parts[:index])
                if part.startswith("_") and not part.startswith("__") and owner in PACKAGES:
                    if package != owner and not package.startswith(owner + ".") and (line, owner) not in reported:
                        reported.add((line, owner))
                        found.append(f"{where}: private module of {owner}")
                    break
    return found


def test_layers_import_only_downward_and_no_private_module_of_another_package() -> None:
    assert _violations() == []


def test_the_import_check_catches_violations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The check itself can fail: a copy of the tree with three bad imports is reported.
    import shutil

    copy = tmp_path / "src"
    shutil.copytree(SRC / ROOT_PACKAGE, copy / ROOT_PACKAGE)
    bad = copy / ROOT_PACKAGE / "cache" / "bad.py"
    bad.write_text(
        "import sqlalchemy\nfrom litestar_alchemy_kit.orm import table_tag\n"
        "from litestar_alchemy_kit.repository._support import ReadState\n",
        encoding="utf-8",
    )
    base = copy / ROOT_PACKAGE / "canonical.py"
    base.write_text(
        base.read_text(encoding="utf-8") + "\nfrom litestar_alchemy_kit.cache import MISS\n", encoding="utf-8"
    )
    monkeypatch.setattr(f"{__name__}.SRC", copy)
    assert [v.split(": ", 1)[1] for v in _violations()] == [
        "cache imports nothing from sqlalchemy",
        "cache may not import orm",
        "cache may not import repository",
        "private module of litestar_alchemy_kit.repository",
        "base module imports nothing from the kit",
    ]


def _public_names(init: Path) -> set[str]:
    """Names an ``__init__`` defines or imports from the kit, without a leading underscore."""
    names: set[str] = set()
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(ROOT_PACKAGE):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    return {name for name in names if not name.startswith("_")}


def _sort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 ("isort-style"): CONSTANTS, then Classes, then everything else.
    if name.isupper() and len(name) > 1:
        return (0, name)
    if re.match(r"^_*[A-Z]", name):
        return (1, name)
    return (2, name)


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_complete_and_sorted(package: str) -> None:
    init = SRC.joinpath(*package.split("."), "__init__.py")
    tree = ast.parse(init.read_text(encoding="utf-8"))
    declared = next(
        (
            ast.literal_eval(node.value)
            for node in tree.body
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        ),
        None,
    )
    assert isinstance(declared, tuple), f"{package} has no __all__ tuple"
    assert sorted(_public_names(init) - set(declared)) == []
    assert list(declared) == sorted(declared, key=_sort_key)
