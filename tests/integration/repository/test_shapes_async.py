"""Invariant 8 over every statement shape, on every async engine and store (see ``_shapes_async``)."""

from __future__ import annotations

from tests.integration.repository import _shapes_async as scenarios
from tests.integration.repository.conftest import Env


async def test_every_shape_hits_as_the_database_returns(async_env: Env) -> None:
    await scenarios.every_shape_hits_as_the_database_returns(async_env)
