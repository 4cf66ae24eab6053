"""Schemathesis against the errors test app and the auth test app: 0 server errors, 0 undocumented statuses."""

from pathlib import Path

import pytest

from litestar_alchemy_kit.errors import ErrorsPlugin
from tests._schemathesis import assert_conformance
from tests.unit.auth import _app as auth_app
from tests.unit.errors._fixture_app import build_app


def test_errors_app_documents_every_answer(tmp_path: Path) -> None:
    assert assert_conformance(build_app(tmp_path / "fuzz.db")) > 0


@pytest.mark.parametrize("caller", [None, "alice", "bob", "dave"])
def test_auth_app_documents_every_answer(caller: str | None) -> None:
    backend = auth_app.make_backend("jwt")
    app = auth_app.make_app(backend, plugins=(ErrorsPlugin(),))
    headers = {"Authorization": f"Bearer {auth_app.issue(backend, caller)}"} if caller else None
    assert assert_conformance(app, headers=headers, max_examples=5) > 0
