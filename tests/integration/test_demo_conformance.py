"""Schemathesis over the demo: no server error and no status or problem code its OpenAPI document leaves out.

Run for each kind of caller the demo knows (anonymous, a tenant's member, a user without a tenant), so the
guards' and the tenant provider's answers are exercised as well as the handlers'.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest
from litestar import Litestar

from tests._schemathesis import assert_conformance

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite, pytest.mark.memory_store]


@pytest.fixture
def demo() -> ModuleType:
    import examples.demo.app

    # A fresh module: its in-memory database and store start empty, as when the demo starts. Schemathesis runs
    # the app's lifespan itself (startup creates and seeds the tables) and keeps it for the rest of the process.
    return importlib.reload(examples.demo.app)


@pytest.mark.parametrize("caller", [None, "alice", "carol"])
def test_demo_documents_every_answer(demo: ModuleType, caller: str | None) -> None:
    app: Litestar = demo.app
    headers = {"Authorization": f"Bearer {demo.jwt_auth.create_token(identifier=caller)}"} if caller else None
    assert assert_conformance(app, headers=headers, max_examples=8) > 0
