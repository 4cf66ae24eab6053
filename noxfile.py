"""Every workflow of the project: ``python -m nox -l`` lists them.

Each session installs what it needs from the dependency groups in ``pyproject.toml``, so a
machine with only Python and pip can run any of them after ``python -m pip install nox``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml("pyproject.toml")


def _install(session: nox.Session, *groups: str, editable: bool = True) -> None:
    packages = [package for group in groups for package in nox.project.dependency_groups(PYPROJECT, group)]
    session.install("-e", ".", *packages) if editable else session.install(*packages)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test matrix: every engine and every store, in parallel on all cores."""
    _install(session, "test")
    # A later "-n" in posargs wins, e.g. ``nox -s tests -- -n 0 -m sqlite``.
    session.run("pytest", "-n", os.environ.get("LAK_TEST_WORKERS", "auto"), *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    _install(session, "lint", editable=False)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy strict and pyright strict on ``src/``."""
    _install(session, "typecheck")
    session.run("mypy")
    session.run("pyright", "--pythonpath", session.virtualenv.location + "/bin/python")


@nox.session
def unasyncd(session: nox.Session) -> None:
    """Fail when a generated ``_sync.py`` is stale; ``-- --write`` regenerates instead.

    unasyncd 0.10's own ``--check`` never reports a stale file (it only counts files it
    wrote), so the check regenerates every target, compares, and puts the originals back.
    """
    _install(session, "lint", editable=False)
    if "--write" in session.posargs:
        session.run("unasyncd", "--force")
        return
    targets = [ROOT / target for target in PYPROJECT["tool"]["unasyncd"]["files"].values()]
    before = {path: path.read_bytes() if path.exists() else None for path in targets}
    try:
        # unasyncd exits 1 when it rewrote a file; the comparison below is the verdict.
        session.run("unasyncd", "--force", "--no-cache", success_codes=[0, 1])
        stale = [str(path.relative_to(ROOT)) for path in targets if path.read_bytes() != before[path]]
    finally:
        for path, content in before.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
    if stale:
        session.error(f"stale generated files (run `nox -s unasyncd -- --write`): {', '.join(stale)}")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the Sphinx site; warnings are errors."""
    _install(session, "docs")
    session.run("python", "docs/_scripts/api_reference.py", "--check")
    session.run("sphinx-build", "-W", "--keep-going", "-n", "-b", "html", "docs", "docs/_build/html")
    # Every name of every __all__ is in the built reference (objects.inv), not only in the .rst sources.
    session.run("python", "docs/_scripts/api_reference.py", "--inventory", "docs/_build/html/objects.inv")


@nox.session
def demo(session: nox.Session) -> None:
    """Run the demo application on SQLite and an in-memory store (http://127.0.0.1:8000)."""
    _install(session, "demo")
    session.run(
        "litestar", "--app", "examples.demo.app:app", "run", "--host", "127.0.0.1", "--port", "8000", *session.posargs
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Run every ``benchmarks/bench_*.py`` against its anchors and every ``soak_*.py``, and regenerate the benchmarks page.

    Each script records its table in ``docs/benchmarks/_generated/``; ``benchmarks/_report.py`` then renders the
    tables and SVG plots the page includes (commit them with the page).
    """
    _install(session, "test", "bench")
    scripts = [*sorted((ROOT / "benchmarks").glob("bench_*.py")), *sorted((ROOT / "benchmarks").glob("soak_*.py"))]
    for script in scripts:
        session.run("python", str(script), *session.posargs)
    session.run("python", str(ROOT / "benchmarks" / "_report.py"))


@nox.session
def aa_conformance(session: nox.Session) -> None:
    """Advanced Alchemy's own repository, service, provider and DTO tests on the kit's classes.

    Fetches the sdist of the installed AA version, runs its tests with the kit's classes substituted and
    a cache bound to every session (plain, then with committed seeds and every read run twice, cached and
    uncached), on SQLite, aiosqlite, DuckDB, PostgreSQL and MariaDB; fails on any difference that
    ``tests/aa_conformance/expected_differences.toml`` does not list. ``-- ARGS`` go to pytest
    (``-- -k get_many``; ``--modes read_twice`` before them picks a mode).
    """
    _install(session, "test", "aa_conformance")
    session.run("python", "tests/aa_conformance/run.py", "--workdir", session.create_tmp(), *session.posargs)


@nox.session
def mutation(session: nox.Session) -> None:
    """Curated mutants of the invariant-enforcing code (``tests/mutation/mutants.toml``): every one must be killed.

    ``-- ID ...`` runs only those mutants; ``-- --workers N`` runs N at once (default 2).
    """
    _install(session, "test")
    session.run("python", "tests/mutation/run.py", *session.posargs)
