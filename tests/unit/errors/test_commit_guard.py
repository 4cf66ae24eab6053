"""How the commit guard finds Advanced Alchemy's autocommit policy, and what it says when it cannot."""

from typing import Any

import pytest
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from litestar import Litestar

from litestar_alchemy_kit.errors import ErrorsConfig, ErrorsPlugin
from litestar_alchemy_kit.errors.commit import CommitBeforeResponseMiddleware


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
