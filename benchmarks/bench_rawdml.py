"""What observing writes at the cursor costs a SELECT: the raw-DML listeners on vs off, same process.

The listeners of :mod:`litestar_alchemy_kit.orm.rawdml` run on every cursor execution of every
engine. A cache hit executes nothing, so only reads that go to the database pay; this measures
them: a compiled ``select()`` construct, a ``text()`` SELECT and an ``exec_driver_sql`` SELECT on
SQLite in memory (the cheapest database round trip, so the relative cost is the largest it gets),
each timed in interleaved batches with the listeners installed and removed, medians reported.
The in-listener column is the two listeners alone (``before_cursor_execute`` attributes the statement,
``after_cursor_execute`` settles an AUTOCOMMIT bracket), called directly on the same execution context,
net of two empty calls with the same arguments (what SQLAlchemy's event dispatch costs anyway).

Run: ``python benchmarks/bench_rawdml.py`` (``BENCH_ROUNDS`` batches, default 15).
"""

from __future__ import annotations

import datetime
import decimal
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from _models import BenchBase, Product
from _pin import pin_client
from _report import record
from sqlalchemy import Engine, create_engine, event, select, text

from litestar_alchemy_kit.orm import install_listeners, rawdml

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
N = 2000
TABLE = Product.__table__.name


def _engine() -> Engine:
    engine = create_engine("sqlite://")
    BenchBase.metadata.create_all(engine)
    created = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    with engine.begin() as conn:
        conn.execute(
            Product.__table__.insert(),
            [
                {
                    "name": f"p{i}",
                    "sku": f"SKU-{i:05d}",
                    "description": "d",
                    "quantity": i,
                    "price": decimal.Decimal(i),
                    "weight": 1.0,
                    "active": True,
                    "category": "c",
                    "created": created,
                }
                for i in range(100)
            ],
        )
    return engine


def _variants(engine: Engine) -> dict[str, Callable[[Any], Any]]:
    construct = select(Product.__table__.c.name).where(Product.__table__.c.sku == "SKU-00042")
    raw = text(f"SELECT name FROM {TABLE} WHERE sku = :sku")
    driver_sql = f"SELECT name FROM {TABLE} WHERE sku = 'SKU-00042'"
    del engine
    return {
        "select() construct": lambda conn: conn.execute(construct).all(),
        "text() SELECT": lambda conn: conn.execute(raw, {"sku": "SKU-00042"}).all(),
        "exec_driver_sql SELECT": lambda conn: conn.exec_driver_sql(driver_sql).all(),
    }


def _batch(engine: Engine, run: Callable[[Any], Any]) -> float:
    with engine.connect() as conn:
        start = time.perf_counter()
        for _ in range(N):
            run(conn)
        elapsed = time.perf_counter() - start
        conn.rollback()
    return elapsed / N * 1e6


_CURSOR_LISTENERS = (
    ("before_cursor_execute", rawdml._before_cursor_execute, {"retval": True}),  # noqa: SLF001
    ("after_cursor_execute", rawdml._after_cursor_execute, {}),  # noqa: SLF001
)


def _set_listeners(*, on: bool) -> None:
    for name, listener, options in _CURSOR_LISTENERS:
        registered = event.contains(Engine, name, listener)
        if on and not registered:
            event.listen(Engine, name, listener, **options)
        elif not on and registered:
            event.remove(Engine, name, listener)


def _in_listener(engine: Engine, run: Callable[[Any], Any]) -> float:
    """The listener alone, called on a real execution context (µs per call)."""
    captured: list[tuple[Any, ...]] = []

    def capture(*args: Any) -> None:
        captured.append(args)

    event.listen(engine, "after_cursor_execute", capture)
    with engine.connect() as conn:
        run(conn)
    event.remove(engine, "after_cursor_execute", capture)
    args = captured[-1]

    def empty(*_: Any) -> None:
        return None

    def per_call(fn: Callable[..., Any]) -> float:
        start = time.perf_counter()
        for _ in range(N * 10):
            fn(*args)
        return (time.perf_counter() - start) / (N * 10) * 1e6

    def both(*call: Any) -> None:
        rawdml._before_cursor_execute(*call)  # noqa: SLF001
        rawdml._after_cursor_execute(*call)  # noqa: SLF001

    def two_empty(*call: Any) -> None:
        empty(*call)
        empty(*call)

    # both listeners (attribution before the statement, the AUTOCOMMIT settle check after it), net of two
    # empty calls with the same arguments, interleaved: the median of ROUNDS pairs
    return statistics.median(per_call(both) - per_call(two_empty) for _ in range(ROUNDS))


def main() -> None:
    install_listeners()
    engine = _engine()
    variants = _variants(engine)
    rows: list[list[Any]] = []
    print(f"SELECT through the engine, sqlite in memory, µs per execute (median of {ROUNDS} interleaved batches)")
    print(f"{'statement':<24} {'off':>8} {'on':>8} {'ratio':>7} {'in listener':>12}")
    for label, run in variants.items():
        for on in (True, False):  # warm both
            _set_listeners(on=on)
            _batch(engine, run)
        off: list[float] = []
        on_: list[float] = []
        for _ in range(ROUNDS):
            _set_listeners(on=False)
            off.append(_batch(engine, run))
            _set_listeners(on=True)
            on_.append(_batch(engine, run))
        without, with_ = statistics.median(off), statistics.median(on_)
        inside = _in_listener(engine, run)
        rows.append([label, round(without, 2), round(with_, 2), round(with_ / without, 3), round(inside, 3)])
        print(f"{label:<24} {without:>8.2f} {with_:>8.2f} {with_ / without:>7.3f} {inside:>12.3f}")
    _set_listeners(on=True)
    load = os.getloadavg()
    note = f"Load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {ROUNDS} batches of {N}."
    print(note)
    record(
        "rawdml",
        "SELECT cost of the raw-DML listeners (sqlite in memory, µs per execute)",
        ["statement", "listeners off", "listeners on", "ratio", "in listener"],
        rows,
        plot="ratio",
        note=note,
    )


if __name__ == "__main__":
    print(pin_client())
    main()
