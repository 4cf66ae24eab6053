"""One table spelled bare and schema-qualified: writes through either invalidate reads through the other (async)."""

from __future__ import annotations

import pytest

from tests.integration.repository import _spellings_async as scenarios
from tests.integration.repository.conftest import Env

CASES = [
    *((form, True) for form in scenarios.WRITES),
    *((form, False) for form in scenarios.WRITES if form != "flush_translated"),  # a translate map spells bare
]
UPPER = [("flush", True), ("orm_bulk", False), ("core_connection", False)]


@pytest.mark.parametrize(
    ("form", "bare_writes"),
    CASES,
    ids=[f"{form}-{'bare-writes' if bare else 'qualified-writes'}" for form, bare in CASES],
)
async def test_write_reaches_every_spelling(async_env: Env, form: str, bare_writes: bool) -> None:
    await scenarios.write_reaches_every_spelling(async_env, form, bare_writes=bare_writes)


@pytest.mark.parametrize(
    ("form", "bare_writes"),
    UPPER,
    ids=[f"{form}-{'bare-writes' if bare else 'qualified-writes'}" for form, bare in UPPER],
)
async def test_write_reaches_an_upper_case_spelling(async_env: Env, form: str, bare_writes: bool) -> None:
    await scenarios.write_reaches_every_spelling(async_env, form, bare_writes=bare_writes, upper=True)
