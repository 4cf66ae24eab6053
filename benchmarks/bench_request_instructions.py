"""Per-request cost on MemoryStore in instructions, beside its floor: what the kit does, apart from how the CPU runs it.

``bench_tenants.py`` section 3 times a request (new session + kit service + ``get`` hit + close) against its
floor, an ``AsyncSession`` open+close plus a long-lived repository's hit. In time the two parts of the floor
cost more run one after the other than apart (caches and branch predictors warmed by one loop are cooled by
the other), so a time ratio mixes the kit's work with the machine's. This script counts the instructions
each case executes, with valgrind's callgrind, in one process: the cases run in interleaved rounds of
``N`` calls, and ``callgrind_control --dump`` after each batch attributes the instructions since the
previous dump to it. Counts do not depend on load or clock speed. Medians over the rounds, and ratios:

- the request against the floor's parts counted apart and summed (the issue's floor);
- the request against the two parts run one after the other in one loop;
- the kit's service build against AA's.

Needs ``valgrind`` on ``PATH`` (Debian's ``valgrind`` package); without it the script says so and records
nothing. ``BENCH_ROUNDS`` (default 5) and ``BENCH_CALLS`` (default 200) set the rounds and calls per batch.
Run: ``python benchmarks/bench_request_instructions.py`` (``nox -s bench`` runs it with the others).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import uuid
from typing import Any

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CALLS = int(os.environ.get("BENCH_CALLS", "200"))
CASES = (
    "session open+close",
    "long-lived hit",
    "session then long-lived hit",
    "request",
    "kit service built",
    "AA service built",
)


async def _child(tmp: str) -> None:
    """The cases of ``bench_tenants`` section 3, in rounds of ``CALLS`` calls, a dump after each batch."""
    from _callgrind import run_rounds
    from bench_tenants import KitRepo, KitService, PlainService, _built, _engine, _floor_cases, _request_cases, _rows
    from litestar.stores.memory import MemoryStore
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from litestar_alchemy_kit.cache import AsyncCache
    from litestar_alchemy_kit.repository import bind_cache

    engine = await _engine(f"sqlite+aiosqlite:///{tmp}/request.db", _rows(100, 10))
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    cache = AsyncCache(MemoryStore(), namespace=f"lakri{uuid.uuid4().hex[:8]}")
    bind_cache(sessions, cache)
    item_id = uuid.UUID(int=4)  # tenant 3
    long_lived = sessions()
    repo = KitRepo(session=long_lived, cache=cache, scope=3)
    await repo.get(item_id)
    cases = _request_cases(sessions, repo, item_id) | _floor_cases(sessions, repo, item_id)
    cases |= {
        "kit service built": lambda: _built(KitService(session=long_lived, scope=3)),
        "AA service built": lambda: _built(PlainService(session=long_lived)),
    }
    await run_rounds({name: cases[name] for name in CASES}, CALLS, ROUNDS)
    await long_lived.close()
    await cache.close()
    await engine.dispose()


def _rows(per_call: dict[str, list[float]]) -> list[list[Any]]:
    medians = {name: statistics.median(values) for name, values in per_call.items()}
    floor = medians["session open+close"] + medians["long-lived hit"]
    sequenced = medians["session then long-lived hit"]
    kit, aa = medians["kit service built"], medians["AA service built"]
    k = 1000.0
    return [
        ["request (session + service + get hit + close)", medians["request"] / k, medians["request"] / floor],
        ["floor (session open+close + long-lived hit, counted apart and summed)", floor / k, 1.0],
        ["session open+close, then the long-lived hit, in one loop", sequenced / k, sequenced / floor],
        ["request against that sequenced floor", medians["request"] / k, medians["request"] / sequenced],
        ["kit service built", kit / k, kit / aa],
        ["AA service built", aa / k, 1.0],
    ]


def main() -> None:
    from _callgrind import available, count
    from _report import record

    if not available():
        print("skipped: valgrind is not on PATH (Debian: apt-get install valgrind); nothing recorded")
        return
    per_call = count(__file__, CASES, CALLS, ROUNDS)
    rows = _rows(per_call)
    columns = ["what", "k instructions / call", "ratio"]
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{cell:.3f}" if isinstance(cell, float) else str(cell) for cell in row))
    note = (
        f"callgrind instruction counts (valgrind), median of {ROUNDS} interleaved rounds of {CALLS} calls; "
        "independent of load and clock speed."
    )
    title = "Per-request cost on MemoryStore, in instructions"
    record("tenants_request_instructions", title, columns, rows, note=note)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        asyncio.run(_child(sys.argv[2]))
    else:
        main()
