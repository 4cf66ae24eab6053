"""The layout guards itself: complete sorted ``__all__``, imports only downward, no private cross-imports, small modules."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
ROOT_PACKAGE = "litestar_alchemy_kit"
PACKAGES = sorted(".".join(path.parent.relative_to(SRC).parts) for path in (SRC / ROOT_PACKAGE).rglob("__init__.py"))

# What each package of the kit may import from the others (the rest of itself is always allowed).
# cache <- orm <- writes <- repository <- service <- providers <- plugin; auth and errors stand alone;
# response_cache uses cache and orm. The base modules sit below everything: every layer may
# import them and they import nothing from the kit. Other top-level modules (the package
# ``__init__``, ``testing``, deprecated shims) sit above everything.
ALLOWED: dict[str, frozenset[str]] = {
    "cache": frozenset(),
    "orm": frozenset({"cache"}),
    # the write half of the cached repositories (their base class)
    "writes": frozenset({"cache", "orm"}),
    "repository": frozenset({"cache", "orm", "writes"}),
    "service": frozenset({"cache", "orm", "writes", "repository"}),
    # Scoped providers read the caller's AuthContext: auth stands alone (imports no other layer), providers use it.
    "providers": frozenset({"cache", "orm", "writes", "repository", "service", "auth"}),
    "plugin": frozenset(
        {"cache", "orm", "writes", "repository", "service", "providers", "response_cache", "auth", "errors"}
    ),
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
# The only private modules of other distributions the kit may import, each for a reason; any other is a violation.
THIRD_PARTY_PRIVATE: dict[str, str] = {
    "advanced_alchemy.extensions.litestar._utils": "get_aa_scope_state, listed in _aa_compat.FUNCTIONS and tested",
    "litestar.cli._utils": "LitestarGroup: no public base for a CLI group with the app injected (AA's CLI uses it too)",
}


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


def _private_module(imported: str) -> str | None:
    """The first private module on ``imported``'s path (``a._b`` of ``a._b.c``), or None.

    ``from a import _name`` gives ``a._name``: a private module only if ``a`` has such a submodule.
    """
    parts = imported.split(".")
    for index, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            candidate = ".".join(parts[: index + 1])
            try:
                found = importlib.util.find_spec(candidate) is not None
            except ModuleNotFoundError:  # the parent is a module, not a package: ``_name`` is a name in it
                found = False
            return candidate if found else None
    return None


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
            if top != ROOT_PACKAGE:
                private = _private_module(imported)
                if private is not None and private not in THIRD_PARTY_PRIVATE and (line, private) not in reported:
                    reported.add((line, private))
                    found.append(f"{where}: private module {private}")
                continue
            if any(imported == base or imported.startswith(f"{base}.") for base in BASE):
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
        "import sqlalchemy\nfrom litestar_alchemy_kit.orm import table_tag\nfrom litestar._kwargs import KwargsModel\n"
        "from litestar_alchemy_kit.repository._support import entry_key\n",
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
        "private module litestar._kwargs",
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


# Modules stay small enough to read in one sitting; the repository package is its read path only
# (its writes are in ``writes/``, the SQLAlchemy analysis in ``orm/``), so it stays small as a whole.
LINE_CAP = 600
SMALL_PACKAGES = ("repository",)


def _generated(root: Path) -> set[Path]:
    """The ``_sync.py`` files unasyncd writes from their ``_async.py`` source (``[tool.unasyncd.files]``)."""
    files = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["unasyncd"]["files"]
    return {(root / target).resolve() for target in files.values()}


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _oversized(src: Path, generated: set[Path]) -> list[str]:
    found = [
        f"{path.relative_to(src)}: {count} lines"
        for path in sorted((src / ROOT_PACKAGE).rglob("*.py"))
        if (count := _lines(path)) >= LINE_CAP
    ]
    for package in SMALL_PACKAGES:
        sources = [p for p in (src / ROOT_PACKAGE / package).rglob("*.py") if p.resolve() not in generated]
        total = sum(_lines(path) for path in sources)
        if total >= LINE_CAP:
            found.append(f"{ROOT_PACKAGE}/{package}/: {total} lines apart from generated modules")
    return found


def test_every_module_and_the_repository_package_is_under_the_line_cap() -> None:
    generated = _generated(ROOT)
    assert generated, "no generated modules found in [tool.unasyncd.files]"
    assert all(path.is_file() for path in generated)
    assert _oversized(SRC, generated) == []


def test_the_line_cap_check_catches_violations(tmp_path: Path) -> None:
    copy = tmp_path / "src"
    package = copy / ROOT_PACKAGE
    (package / "repository").mkdir(parents=True)
    (package / "cache").mkdir()
    (package / "cache" / "big.py").write_text("x = 1\n" * LINE_CAP, encoding="utf-8")
    (package / "repository" / "_async.py").write_text("x = 1\n" * 400, encoding="utf-8")
    (package / "repository" / "_sync.py").write_text("x = 1\n" * 400, encoding="utf-8")
    (package / "repository" / "_support.py").write_text("x = 1\n" * 199, encoding="utf-8")
    generated = {(package / "repository" / "_sync.py").resolve()}
    assert _oversized(copy, generated) == [f"{ROOT_PACKAGE}/cache/big.py: {LINE_CAP} lines"]
    (package / "repository" / "_support.py").write_text("x = 1\n" * 200, encoding="utf-8")
    assert _oversized(copy, generated)[1:] == [f"{ROOT_PACKAGE}/repository/: 600 lines apart from generated modules"]
