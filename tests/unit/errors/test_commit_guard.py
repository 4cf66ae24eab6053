"""How the commit guard finds Advanced Alchemy's autocommit policy, and what it says when it cannot."""

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from advanced_alchemy.extensions.litestar.plugins.init.config.asyncio import autocommit_handler_maker
from litestar import Litestar, post
from litestar.config.compression import CompressionConfig
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.testing import TestClient
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from litestar_alchemy_kit.errors import ErrorsConfig, ErrorsPlugin
from litestar_alchemy_kit.errors.commit import CommitBeforeResponseMiddleware
from tests.unit.errors._fixture_app import FuzzBase, Widget


def _guards(app: Litestar) -> list[Any]:
    return [m for m in app.middleware if getattr(m, "middleware", None) is CommitBeforeResponseMiddleware]


def test_reads_the_policy_of_aas_autocommit_handler() -> None:
    config = SQLAlchemyAsyncConfig(
        connection_string="sqlite+aiosqlite://", before_send_handler="autocommit_include_redirects"
    )
    [guard] = _guards(Litestar(plugins=[SQLAlchemyPlugin(config=config), ErrorsPlugin()]))
    [policy] = guard.kwargs["policies"]
    assert policy.session_scope_key == config.session_scope_key
    assert [policy.commits(status) for status in (200, 302, 399, 400, 500)] == [True, True, True, False, False]


def test_no_guard_without_autocommit_or_when_turned_off() -> None:
    plain = SQLAlchemyAsyncConfig(connection_string="sqlite+aiosqlite://")
    assert _guards(Litestar(plugins=[SQLAlchemyPlugin(config=plain), ErrorsPlugin()])) == []
    autocommit = SQLAlchemyAsyncConfig(connection_string="sqlite+aiosqlite://", before_send_handler="autocommit")
    off = ErrorsPlugin(ErrorsConfig(commit_before_response=False))
    assert _guards(Litestar(plugins=[SQLAlchemyPlugin(config=autocommit), off])) == []


def test_warns_when_aas_autocommit_handler_cannot_be_read() -> None:
    """A different Advanced Alchemy version must not turn the guard off silently."""

    def autocommit_handler_maker() -> Any:
        statuses = {200}

        async def handler(message: Any, scope: Any) -> None:
            assert statuses

        # What AA's handler would look like if a release renamed the variables it closes over.
        handler.__module__ = "advanced_alchemy.extensions.litestar.plugins.init.config.asyncio"
        handler.__qualname__ = "autocommit_handler_maker.<locals>.handler"
        return handler

    config = SQLAlchemyAsyncConfig(
        connection_string="sqlite+aiosqlite://", before_send_handler=autocommit_handler_maker()
    )
    with pytest.warns(RuntimeWarning, match="cannot read advanced alchemy's autocommit handler"):
        app = Litestar(plugins=[SQLAlchemyPlugin(config=config), ErrorsPlugin()])
    assert _guards(app) == []


@post("/widgets/{name:str}")
async def create_widget(name: FromPath[str], db_session: NamedDependency[AsyncSession]) -> dict[str, str]:
    db_session.add(Widget(name=name, quantity=1))  # flushed only when the session commits
    return {"name": name}


def _app(database: Path, handler: Any, **kwargs: Any) -> tuple[Litestar, SQLAlchemyAsyncConfig]:
    config = SQLAlchemyAsyncConfig(
        connection_string=f"sqlite+aiosqlite:///{database}",
        before_send_handler=handler,
        create_all=True,
        metadata=FuzzBase.metadata,
    )
    return Litestar([create_widget], plugins=[SQLAlchemyPlugin(config=config), ErrorsPlugin()], **kwargs), config


def _names(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        return [row[0] for row in connection.execute("SELECT name FROM lak_err_widget ORDER BY name")]


def test_the_guard_keeps_aas_rollback_statuses(tmp_path: Path) -> None:
    """A 201 that AA is told to roll back must not be committed by the guard."""
    app, _ = _app(tmp_path / "w.db", autocommit_handler_maker(extra_rollback_statuses={201}))
    with TestClient(app) as client:
        assert client.post("/widgets/alpha").status_code == 201
    assert _names(tmp_path / "w.db") == []


def test_commit_failure_with_compression_is_a_problem_response(tmp_path: Path) -> None:
    app, _ = _app(tmp_path / "c.db", "autocommit", compression_config=CompressionConfig("gzip", minimum_size=1))
    with TestClient(app) as client:
        assert client.post("/widgets/alpha", headers={"accept-encoding": "gzip"}).status_code == 201
        response = client.post("/widgets/alpha", headers={"accept-encoding": "gzip"})
        again = client.post("/widgets/beta", headers={"accept-encoding": "gzip"})
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "conflict.duplicate"
    assert again.status_code == 201
    assert _names(tmp_path / "c.db") == ["alpha", "beta"]


def _swallowing_middleware(app: ASGIApp) -> ASGIApp:
    """A careless user middleware: swallows whatever the app raised, and sends nothing."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        with contextlib.suppress(Exception):
            await app(scope, receive, send)

    return middleware


def test_a_commit_failure_swallowed_downstream_still_gets_an_answer(tmp_path: Path) -> None:
    app, _ = _app(tmp_path / "s.db", "autocommit", middleware=[_swallowing_middleware])
    with TestClient(app) as client:
        assert client.post("/widgets/alpha").status_code == 201
        response = client.post("/widgets/alpha")
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "conflict.duplicate"
    assert _names(tmp_path / "s.db") == ["alpha"]
