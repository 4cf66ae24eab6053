"""Invariant 8 over every statement shape, on every sync engine and store (see ``_shapes_sync``)."""

from __future__ import annotations

from tests.integration.repository import _shapes_sync as scenarios
from tests.integration.repository.conftest import Env


def test_every_shape_hits_as_the_database_returns(sync_env: Env) -> None:
    scenarios.every_shape_hits_as_the_database_returns(sync_env)
