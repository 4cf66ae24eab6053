"""Run the curated mutants of ``mutants.toml``: each must make its focused test selection fail.

A mutant is applied to a copy of ``src/`` in a temporary directory that is put first on
``PYTHONPATH``; the working tree is never modified, so an interrupted run leaves nothing behind.
Before any mutant runs, every listed ``original`` snippet must occur exactly once in its file (a
refactor that moves the code fails the session until the list is updated), and the union of the
selections must pass unmutated (so a failure is the mutant's doing).

Usage: ``python tests/mutation/run.py [--workers N] [MUTANT_ID ...]``; exit status 0 only when
every mutant selected was killed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = Path(__file__).with_name("mutants.toml")
TIMEOUT = 300  # seconds per mutant's selection; a hang counts as killed (reported as such)
BASELINE_TIMEOUT = 1800  # the union of every selection, unmutated
PYTEST = [sys.executable, "-m", "pytest", "-q", "-x", "-rf", "-n", "0", "-p", "no:cacheprovider", "--timeout", "120"]


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One hand-made fault: ``original`` (exactly once in ``file``) becomes ``replacement``."""

    id: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    guards: str


@dataclasses.dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    verdict: str  # killed, survived, error
    seconds: float
    detail: str


def load(path: Path = MUTANTS) -> list[Mutant]:
    """The mutants of ``path``; raises ``SystemExit`` naming every entry that no longer applies."""
    data = tomllib.loads(path.read_text())
    mutants = [
        Mutant(m["id"], m["file"], m["original"], m["replacement"], tuple(m["tests"]), m["guards"])
        for m in data["mutant"]
    ]
    problems: list[str] = []
    seen: set[str] = set()
    for mutant in mutants:
        if mutant.id in seen:
            problems.append(f"{mutant.id}: duplicate id")
        seen.add(mutant.id)
        source = ROOT / mutant.file
        if not source.is_file():
            problems.append(f"{mutant.id}: {mutant.file} does not exist")
            continue
        count = source.read_text().count(mutant.original)
        if count != 1:
            problems.append(f"{mutant.id}: original snippet found {count} times in {mutant.file} (update the list)")
        if mutant.original == mutant.replacement:
            problems.append(f"{mutant.id}: replacement equals the original")
        if not mutant.tests:
            problems.append(f"{mutant.id}: no tests")
    if problems:
        raise SystemExit("mutants.toml does not match the code:\n  " + "\n  ".join(problems))
    return mutants


def _pytest(
    args: list[str], pythonpath: str | None, basetemp: Path, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([pythonpath, *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run(
        [*PYTEST, "--basetemp", str(basetemp), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _first_failure(output: str) -> str:
    found = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    return found.group(1) if found else output.strip().splitlines()[-1] if output.strip() else ""


def run_one(mutant: Mutant) -> Outcome:
    """Apply ``mutant`` to a private copy of ``src/`` and run its tests against that copy."""
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix=f"lak-mutant-{mutant.id}-"))
    try:
        # bytecode is copied too (copytree keeps mtimes): only the mutated module recompiles
        shutil.copytree(ROOT / "src", workdir / "src")
        target = workdir / mutant.file
        target.write_text(target.read_text().replace(mutant.original, mutant.replacement, 1))
        try:
            result = _pytest(list(mutant.tests), str(workdir / "src"), workdir / "tmp")
        except subprocess.TimeoutExpired:
            return Outcome(mutant, "killed", time.monotonic() - started, f"timed out after {TIMEOUT}s")
        output = result.stdout + result.stderr
        if result.returncode == 1:
            verdict = "killed"
        elif result.returncode == 0:
            verdict = "survived"
        else:
            verdict = "error"
        return Outcome(
            mutant, verdict, time.monotonic() - started, _first_failure(output) or f"exit {result.returncode}"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _check_copy_wins() -> None:
    """The temporary copy must shadow the installed (editable) package, or no mutant would be live."""
    with tempfile.TemporaryDirectory(prefix="lak-mutant-probe-") as probe:
        shutil.copytree(ROOT / "src", Path(probe) / "src", ignore=shutil.ignore_patterns("__pycache__"))
        env = {**os.environ, "PYTHONPATH": str(Path(probe) / "src")}
        where = subprocess.run(
            [sys.executable, "-c", "import litestar_alchemy_kit; print(litestar_alchemy_kit.__file__)"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not where.startswith(probe):
            raise SystemExit(f"the package is imported from {where}, not from the mutated copy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="run only these mutants")
    parser.add_argument("--workers", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run the selections unmutated first")
    args = parser.parse_args(argv)
    started = time.monotonic()
    mutants = load()
    if args.ids:
        unknown = set(args.ids) - {m.id for m in mutants}
        if unknown:
            raise SystemExit(f"unknown mutant ids: {', '.join(sorted(unknown))}")
        mutants = [m for m in mutants if m.id in args.ids]
    _check_copy_wins()
    selections = sorted({test for m in mutants for test in m.tests})
    if not args.skip_baseline:
        with tempfile.TemporaryDirectory(prefix="lak-mutant-baseline-") as base:
            baseline = _pytest(["-n", "2", *selections], None, Path(base), BASELINE_TIMEOUT)
        if baseline.returncode != 0:
            print(baseline.stdout[-4000:], baseline.stderr[-2000:], sep="\n")
            print("the unmutated selections do not pass: fix that first")
            return 2
        print(f"baseline: {len(selections)} selections pass unmutated ({time.monotonic() - started:.0f}s)")
    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        outcomes = []
        for outcome in pool.map(run_one, mutants):
            outcomes.append(outcome)
            print(f"{outcome.verdict:<8} {outcome.mutant.id:<36} {outcome.seconds:5.1f}s  {outcome.detail}", flush=True)
    survived = [o for o in outcomes if o.verdict == "survived"]
    errors = [o for o in outcomes if o.verdict == "error"]
    killed = len(outcomes) - len(survived) - len(errors)
    print(
        f"\n{len(outcomes)} mutants: {killed} killed, {len(survived)} survived, {len(errors)} errors "
        f"in {time.monotonic() - started:.0f}s"
    )
    for outcome in survived:
        print(f"SURVIVED {outcome.mutant.id} ({outcome.mutant.guards}): {outcome.mutant.file}")
    for outcome in errors:
        print(f"ERROR    {outcome.mutant.id}: {outcome.detail}")
    return 0 if not survived and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
