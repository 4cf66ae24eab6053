"""Run Advanced Alchemy's own tests against the kit's classes; ``nox -s aa_conformance`` calls this.

Fetches the sdist of the installed AA version from the package index (``pip download``), unpacks
it, runs its repository, service, provider and DTO tests with ``aa_kit_plugin`` (the kit's classes
substituted, a cache bound to every session, local database servers) in two modes, and compares
the failures with ``expected_differences.toml``. Any other failure, any expected failure that
passes, and any read-twice difference not listed fails the run.

Usage: ``python tests/aa_conformance/run.py [--workdir DIR] [--modes substitute,read_twice] [-- PYTEST ARGS]``
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import tomllib

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected_differences.toml"

# AA's tests of what the kit replaces: repositories, services, providers and DTOs.
SELECTION = (
    "tests/integration/test_repository.py",
    "tests/integration/test_sqlquery_service.py",
    "tests/integration/test_attrs_service.py",
    "tests/integration/test_cache_repository.py",
    "tests/integration/test_cache_bind_group.py",
    "tests/integration/test_loader_and_execution_options.py",
    "tests/integration/test_filters.py",
    "tests/integration/test_routing.py",
    "tests/unit/test_repository.py",
    "tests/unit/test_repository_delete_expunge.py",
    "tests/unit/test_repository_memory_error_messages.py",
    "tests/unit/test_service_to_model_flow.py",
    "tests/unit/test_extensions/test_litestar/test_providers.py",
    "tests/unit/test_extensions/test_litestar/test_providers_wire_compat.py",
    "tests/unit/test_extensions/test_litestar/test_dto.py",
    "tests/unit/test_extensions/test_litestar/test_dto_integration.py",
    "tests/unit/test_extensions/test_fastapi/test_providers.py",
    "tests/unit/test_extensions/test_flask.py",
)
# Engines this machine (or CI) provides: SQLite, aiosqlite, DuckDB, PostgreSQL (asyncpg, psycopg), MariaDB
# (asyncmy), and AA's mock engines; Oracle, SQL Server, CockroachDB and Spanner need Docker images.
ENGINES = "not (oracledb_sync or oracledb_async or mssql_sync or mssql_async or cockroachdb_sync or cockroachdb_async or spanner)"
FAILED = frozenset({"failed", "error", "collection-error"})


def fetch(workdir: Path) -> Path:
    """AA's unpacked sdist for the installed version (downloaded once per work directory)."""
    version = importlib.metadata.version("advanced-alchemy")
    source = workdir / f"advanced_alchemy-{version}"
    if (source / "tests" / "conftest.py").exists():
        return source
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "--quiet",
         f"advanced-alchemy=={version}", "-d", str(workdir)],
        check=True,
    )  # fmt: skip
    (archive,) = workdir.glob(f"advanced_alchemy-{version}.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(workdir, filter="data")
    # The tests must import the installed AA (the one the kit runs on), not the sdist's copy.
    shutil.rmtree(source / "advanced_alchemy")
    return source


def _without_paths(arguments: list[str]) -> list[str]:
    return [argument for argument in arguments if not argument.startswith("tests/")]


def run_mode(source: Path, mode: str, pytest_args: list[str], report: Path) -> dict:
    env = {
        **os.environ,
        "LAK_AA_MODE": mode,
        "LAK_AA_REPORT": str(report),
        "PYTHONPATH": os.pathsep.join([str(HERE), str(source)]),
    }
    command = [
        sys.executable, "-m", "pytest", "-p", "aa_kit_plugin", "-p", "no:cacheprovider", "-p", "no:randomly",
        "-m", ENGINES, "-q", "--no-header", "-rN", "--tb=short", *pytest_args,
    ]  # fmt: skip
    if not any(arg.startswith("tests/") for arg in pytest_args):
        command.extend(SELECTION)
    started = time.monotonic()
    completed = subprocess.run(command, cwd=source, env=env, check=False)
    elapsed = time.monotonic() - started
    if not report.exists():
        sys.exit(f"aa_conformance: pytest wrote no report (exit {completed.returncode})")
    data = json.loads(report.read_text())
    data["elapsed"] = elapsed
    return data


def _matches(entry: dict, nodeid: str, mode: str) -> bool:
    return entry.get("mode", "both") in {"both", mode} and fnmatch.fnmatchcase(nodeid, entry["test"])


def _read_listed(entry: dict, difference: dict) -> bool:
    kind = entry.get("kind", difference["kind"])
    return kind == difference["kind"] and fnmatch.fnmatchcase(difference["test"], entry["test"])


def verdict(mode: str, data: dict, expected: dict, environment: set[str]) -> list[str]:
    """The problems of one mode's run: unexpected failures, stale expectations, unlisted differences.

    ``environment``: tests that fail with AA's own classes too (this machine, not the kit).
    """
    problems: list[str] = []
    failures = expected.get("failure", [])
    outcomes: dict[str, str] = data["outcomes"]
    for nodeid, outcome in sorted(outcomes.items()):
        listed = any(_matches(entry, nodeid, mode) for entry in failures)
        if outcome in FAILED and not listed and nodeid not in environment:
            problems.append(f"unexpected {outcome}: {nodeid}")
        elif outcome == "passed" and listed:
            problems.append(f"listed as an expected failure but passed (remove it): {nodeid}")
    reads = expected.get("read", [])
    problems.extend(
        f"read-twice difference in {difference['test']}: {difference}"
        for difference in data["differences"]
        if not any(_read_listed(entry, difference) for entry in reads)
    )
    return problems


def unexpected_failures(mode: str, data: dict, expected: dict) -> list[str]:
    failures = expected.get("failure", [])
    return sorted(
        nodeid
        for nodeid, outcome in data["outcomes"].items()
        if outcome in FAILED and not any(_matches(entry, nodeid, mode) for entry in failures)
    )


def summary(mode: str, data: dict, expected: dict, environment: set[str]) -> str:
    outcomes = list(data["outcomes"].values())
    failures = expected.get("failure", [])
    failed = [nodeid for nodeid, outcome in data["outcomes"].items() if outcome in FAILED]
    listed = [nodeid for nodeid in failed if any(_matches(entry, nodeid, mode) for entry in failures)]
    local = [nodeid for nodeid in failed if nodeid in environment]
    return (
        f"aa_conformance [{mode}]: {outcomes.count('passed')} passed, {len(failed)} failed "
        f"({len(listed)} expected, {len(local)} also failing with AA's own classes here), "
        f"{outcomes.count('skipped')} skipped, {outcomes.count('xfailed')} xfailed; "
        f"cache hits async {data['hits']['async']}, sync {data['hits']['sync']}; "
        f"reads compared async {data['compared']['async']}, sync {data['compared']['sync']}; "
        f"differences {len(data['differences'])} "
        f"({sum(1 for d in data['differences'] if d['kind'] == 'data')} of data, the rest tzinfo objects only); "
        f"{data['elapsed']:.0f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(".aa_conformance"))
    parser.add_argument("--modes", default="substitute,read_twice")
    parser.add_argument("pytest_args", nargs="*")
    options = parser.parse_args()
    source = fetch(options.workdir.resolve())
    expected = tomllib.loads(EXPECTED.read_text())
    problems: list[str] = []
    lines: list[str] = []
    workdir = options.workdir.resolve()
    environment: set[str] = set()
    for mode in options.modes.split(","):
        data = run_mode(source, mode, options.pytest_args, workdir / f"report-{mode}.json")
        # Failures nobody listed: run them again with AA's own classes; those failing there too are this
        # machine's (a missing driver feature, a newer dependency), not the kit's.
        suspects = [nodeid for nodeid in unexpected_failures(mode, data, expected) if nodeid not in environment]
        if suspects:
            baseline = run_mode(source, "baseline", [*_without_paths(options.pytest_args), *suspects],
                                workdir / "report-baseline.json")  # fmt: skip
            environment.update(nodeid for nodeid, outcome in baseline["outcomes"].items() if outcome in FAILED)
        problems.extend(f"[{mode}] {problem}" for problem in verdict(mode, data, expected, environment))
        lines.append(summary(mode, data, expected, environment))
    if environment:
        lines.append(f"aa_conformance: {len(environment)} tests fail with AA's own classes on this machine too:")
        lines.extend(f"  {nodeid}" for nodeid in sorted(environment))
    for line in lines:
        print(line)  # noqa: T201
    for problem in problems:
        print(problem)  # noqa: T201
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
