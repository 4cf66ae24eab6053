"""A/B of the cached repository's hit paths: this tree against another commit, in one run.

``python benchmarks/bench_ab.py [BASE_COMMIT]`` (default ``ce0c9bb``) checks BASE_COMMIT out in a
temporary ``git worktree`` and starts two worker processes, one importing ``litestar_alchemy_kit``
from that worktree, one from this tree (``PYTHONPATH`` goes before the editable install). Each
builds the same aiosqlite database (the ``Product`` model, 100 rows) and a ``CachedAsyncRepository``
on ``AsyncCache(MemoryStore())``, warms ``get(pk)`` and ``get_many()`` (100 rows), then times
batches on demand. Batches alternate between the two workers (both pinned to one core with
``taskset`` when available, so they never compete), and the table reports each side's median µs
per call and the ratio new / base (below 1: faster).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BATCHES = int(os.environ.get("BENCH_BATCHES", "15"))
N = {"get": 2000, "list": 200}


async def _worker() -> None:  # pragma: no cover - runs in the subprocess
    from _models import BenchBase, Product
    from bench_repository import KitRepo, _rows
    from litestar.stores.memory import MemoryStore
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    import litestar_alchemy_kit
    from litestar_alchemy_kit.cache import AsyncCache

    directory = tempfile.mkdtemp()
    engine = create_async_engine(f"sqlite+aiosqlite:///{directory}/ab.db")
    async with engine.begin() as conn:
        await conn.run_sync(BenchBase.metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        session.add_all(_rows())
        await session.commit()
        target = (await session.execute(select(Product.id).order_by(Product.quantity).limit(1))).scalar_one()
    cache = AsyncCache(MemoryStore())
    session = sessions()
    repo = KitRepo(session=session, cache=cache)
    for _ in range(3):
        await repo.get(target)
        assert len(await repo.get_many()) == 100
    print(f"ready {litestar_alchemy_kit.__file__}", flush=True)
    for line in sys.stdin:
        op = line.strip()
        n = N[op]
        start = time.perf_counter()
        if op == "get":
            for _ in range(n):
                await repo.get(target)
        else:
            for _ in range(n):
                await repo.get_many()
        print((time.perf_counter() - start) / n * 1e6, flush=True)
    await session.close()
    await engine.dispose()
    shutil.rmtree(directory)


def _start(src: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(HERE)])}
    command = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", str((os.cpu_count() or 1) - 1), *command]
    process = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    ready = process.stdout.readline().split()
    assert ready[:1] == ["ready"], ready
    return process, ready[1]


def _batch(process: subprocess.Popen[str], op: str) -> float:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(op + "\n")
    process.stdin.flush()
    return float(process.stdout.readline())


def main(base: str) -> None:
    worktree = Path(tempfile.mkdtemp()) / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), base], check=True)
    processes: dict[str, subprocess.Popen[str]] = {}
    try:
        for side, src in (("base", worktree / "src"), ("new", ROOT / "src")):
            processes[side], location = _start(src)
            print(f"{side}: {location}")
        times: dict[tuple[str, str], list[float]] = {}
        for batch in range(BATCHES):
            order = ("base", "new") if batch % 2 == 0 else ("new", "base")
            for op in ("get", "list"):
                for side in order:
                    times.setdefault((side, op), []).append(_batch(processes[side], op))
        print(f"\n{BATCHES} interleaved batches, median µs per call (base = {base})")
        print(f"{'hit path':<22}{'base':>10}{'new':>10}{'new/base':>10}")
        for op, label in (("get", "get(pk)"), ("list", "get_many() 100 rows")):
            old, new = statistics.median(times["base", op]), statistics.median(times["new", op])
            print(f"{label:<22}{old:>10.2f}{new:>10.2f}{new / old:>10.3f}")
    finally:
        for process in processes.values():
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=60)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        asyncio.run(_worker())
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "ce0c9bb")
