"""Cost of analyze() on the hot path, against SQLAlchemy's own cache-key generation (the anchor).

Run: .venv/bin/python benchmarks/bench_statement.py
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from advanced_alchemy import filters
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import selectinload

from litestar_alchemy_kit.orm.statement import analyze
from tests.unit.orm.models import Author, aa_filtered

DIALECT = postgresql.dialect()
N = 2000


def best(fn: object) -> float:
    """Minimum over repeats, in microseconds per call (the machine is shared; the minimum is the least noisy)."""
    return min(timeit.repeat(fn, number=N, repeat=7)) / N * 1e6  # type: ignore[arg-type]


def get_by_id(i: int) -> object:
    return select(Author).where(Author.id == i)


def aa_list(i: int) -> object:
    return aa_filtered(
        filters.CollectionFilter("id", list(range(i % 7, i % 7 + 20))),
        filters.SearchFilter("name", f"n{i}", ignore_case=True),
        filters.OrderBy("name", "desc"),
        filters.LimitOffset(100, i),
    ).options(selectinload(Author.tags))


def main() -> None:
    print(f"{'statement':<12} {'build (us)':>11} {'+cache key (us)':>16} {'+analyze (us)':>14} {'analyze/key':>12}")
    for name, build in (("get(id)", get_by_id), ("list+filters", aa_list)):
        analyze(build(0), dialect=DIALECT)  # first call per structure compiles; measured calls are the hot path
        t_build = best(lambda: build(3))  # noqa: B023
        t_key = best(lambda: build(3)._generate_cache_key())  # type: ignore[attr-defined]  # noqa: SLF001, B023
        t_analyze = best(lambda: analyze(build(3), dialect=DIALECT))  # type: ignore[arg-type]  # noqa: B023
        ratio = (t_analyze - t_build) / (t_key - t_build)
        print(f"{name:<12} {t_build:>11.1f} {t_key:>16.1f} {t_analyze:>14.1f} {ratio:>11.2f}x")
    cold = timeit.timeit(lambda: analyze(aa_list(0), dialect=postgresql.dialect()), number=200) / 200 * 1e6
    print(f"cold structure (new dialect object each call, list+filters): {cold:.0f} us")


if __name__ == "__main__":
    main()
