"""Update + commit with the cache's invalidation, in instructions, beside AA's: the kit's work apart from round trips.

``bench_tenants.py`` section 4 times an update + commit (``session.get``, one column changed, ``commit``) with
and without the kit. Its time is mostly round trips to the database and the store, whose cost on loopback
depends on the machine; this script counts the instructions the client executes for the same cases, with
valgrind's callgrind (:mod:`_callgrind`), in interleaved rounds in one process:

- AA (no cache) on the table whose tenant may move, and on the one declaring it ``immutable=True``;
- the kit's commit with its default policy (marker before the COMMIT, bump after it) on both: on the first
  a flush also reads back each written row's tenant (one statement), on the second it does not;
- the same with ``commit_policy=None`` (the bump alone, no marker): what the marker costs the client.

PostgreSQL at ``LAK_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) if it answers,
else SQLite (aiosqlite); the store is Redis at ``LAK_REDIS_URL``. Skipped, recording nothing, without valgrind
or Redis. ``BENCH_ROUNDS`` (default 3) and ``BENCH_CALLS`` (default 60) set the rounds and calls per batch.
Run: ``python benchmarks/bench_commit_instructions.py`` (``nox -s bench`` runs it with the others).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
from typing import Any

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CALLS = int(os.environ.get("BENCH_CALLS", "60"))
ANCHORS = {  # each case, and the AA case it is compared with (the same table)
    "AA commit": "AA commit",
    "kit commit, default policy": "AA commit",
    "kit commit, commit_policy=None": "AA commit",
    "AA commit, immutable tenant": "AA commit",
    "kit commit, default policy, immutable tenant": "AA commit, immutable tenant",
    "kit commit, commit_policy=None, immutable tenant": "AA commit, immutable tenant",
}
CASES = tuple(ANCHORS)


async def _database(tmp: str, name: str = "lakci") -> tuple[str, str]:
    from bench_tenants import _postgres

    url = await _postgres(name)
    return ("postgresql", url) if url else ("aiosqlite", f"sqlite+aiosqlite:///{tmp}/{name}.db")


async def _child(tmp: str) -> None:
    """The cases in rounds of ``CALLS`` update + commits, a dump after each batch."""
    from _callgrind import run_rounds
    from bench_tenants import (
        REDIS_URL,
        FixedTenantRow,
        TenantRow,
        _drop_postgres,
        _engine,
        _rows,
        _update_commit,
        commit_sessions,
    )
    from redis.asyncio import Redis

    db, url = await _database(tmp)
    _, anchor_url = await _database(tmp, "lakci_aa")  # AA's commits: a database no cache is registered for
    engine = await _engine(url, _rows(100, 10), fixed=True)
    anchor_engine = await _engine(anchor_url, _rows(100, 10), fixed=True)
    client = Redis.from_url(REDIS_URL)
    plain, bound, bound_unmarked, caches = await commit_sessions(engine, client, "lakci", anchor_engine)

    cases = {
        "AA commit": _update_commit(plain, TenantRow),
        "kit commit, default policy": _update_commit(bound, TenantRow),
        "AA commit, immutable tenant": _update_commit(plain, FixedTenantRow),
        "kit commit, default policy, immutable tenant": _update_commit(bound, FixedTenantRow),
        "kit commit, commit_policy=None": _update_commit(bound_unmarked, TenantRow),
        "kit commit, commit_policy=None, immutable tenant": _update_commit(bound_unmarked, FixedTenantRow),
    }
    await run_rounds({name: cases[name] for name in CASES}, CALLS, ROUNDS)
    for each in caches:
        await each.clear()
        await each.close()
    await client.aclose()
    await engine.dispose()
    await anchor_engine.dispose()
    if db == "postgresql":
        await _drop_postgres(url)
        await _drop_postgres(anchor_url)
    print(f"database: {db}")


def _rows(per_call: dict[str, list[float]]) -> list[list[Any]]:
    medians = {name: statistics.median(values) for name, values in per_call.items()}
    return [[name, medians[name] / 1000.0, medians[name] / medians[anchor]] for name, anchor in ANCHORS.items()]


def _redis_answers() -> bool:
    from bench_tenants import REDIS_URL
    from redis import Redis

    try:
        return bool(Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except Exception:
        return False


def main() -> None:
    from _callgrind import available, count
    from _report import record

    if not available():
        print("skipped: valgrind is not on PATH (Debian: apt-get install valgrind); nothing recorded")
        return
    if not _redis_answers():
        print("skipped: no Redis at LAK_REDIS_URL (default redis://127.0.0.1:6379/0); nothing recorded")
        return
    db = asyncio.run(_probe())
    rows = _rows(count(__file__, CASES, CALLS, ROUNDS))
    columns = ["what", "k instructions / commit", "vs AA on the same table"]
    print(f"database: {db}")
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{cell:.3f}" if isinstance(cell, float) else str(cell) for cell in row))
    note = (
        f"{db}, Redis store; callgrind instruction counts of the client (valgrind), median of {ROUNDS} interleaved "
        f"rounds of {CALLS} update + commits; independent of load and clock speed, and blind to round-trip time."
    )
    record(
        "tenants_commit_instructions",
        "Update + commit in instructions, with and without the kit",
        columns,
        rows,
        note=note,
    )


async def _probe() -> str:
    from bench_tenants import _drop_postgres, _postgres

    url = await _postgres("lakciprobe")
    if url is None:
        return "aiosqlite"
    await _drop_postgres(url)
    return "postgresql"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        asyncio.run(_child(sys.argv[2]))
    else:
        main()
