"""Bad settings fail at once, with a message naming what is wrong; nothing is half-configured."""

from __future__ import annotations

import pytest
from litestar import Litestar, get
from litestar.exceptions import ImproperlyConfiguredException
from litestar.testing import TestClient

from litestar_alchemy_kit.response_cache import (
    ResponseCachePlugin,
    ResponseCachePluginConfig,
    ResponseCacheRule,
    identify_caller,
)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl": 0}, "ttl must be positive"),
        ({"scope": "everyone"}, "scope must be one of public, tenant, user"),
        ({"vary": ("",)}, "non-empty strings"),
        ({"tags": (3,)}, "non-empty strings"),
    ],
)
def test_bad_rules(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ResponseCacheRule(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"namespace": "a:b"}, "invalid cache namespace"),
        ({"default_ttl": -1}, "default_ttl must be positive"),
        ({"statuses": frozenset({200, 404})}, r"statuses must be 2xx .*\[404\]"),
        ({"stored_headers": frozenset({"Set-Cookie"})}, "must not allow set-cookie"),
    ],
)
def test_bad_plugin_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ResponseCachePluginConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, 30, 2.5, ResponseCacheRule(scope="public")])
def test_opt_values(value: object) -> None:
    rule = ResponseCachePluginConfig().rule_of(value, "h")
    assert isinstance(rule, ResponseCacheRule)
    if isinstance(value, (int, float)) and value is not True:
        assert rule.ttl == value


@pytest.mark.parametrize("value", ["yes", 0, -5, {"ttl": 3}])
def test_a_bad_opt_value_fails_the_startup_naming_the_handler(value: object) -> None:
    @get("/x", opt={"response_cache": value})
    async def handler() -> str:
        return "x"

    app = Litestar([handler], plugins=[ResponseCachePlugin()])
    with pytest.raises(Exception) as raised:  # noqa: SIM117 - the startup's error comes in an exception group
        with TestClient(app):
            pass
    assert raised.group_contains(
        ImproperlyConfiguredException, match=r"opt\['response_cache'\] of handler must be True, a positive ttl"
    )


def test_a_state_value_that_is_not_an_async_cache_fails_the_startup() -> None:
    app = Litestar([], plugins=[ResponseCachePlugin()], state={"cache": "not a cache"})  # type: ignore[arg-type]
    with pytest.raises(Exception) as raised:  # noqa: SIM117
        with TestClient(app):
            pass
    assert raised.group_contains(
        ImproperlyConfiguredException, match=r"app.state\['cache'\] holds a str, not an AsyncCache"
    )


def test_default_identify_never_guesses() -> None:
    from litestar.connection import ASGIConnection

    def connection(user: object, auth: object = None) -> ASGIConnection:  # type: ignore[type-arg]
        return ASGIConnection({"type": "http", "user": user, "auth": auth})  # type: ignore[arg-type]

    assert identify_caller(connection(None)).anonymous  # type: ignore[union-attr]
    assert identify_caller(connection("alice")) == (None, "alice", False)
    assert identify_caller(connection(7)) == (None, "7", False)
    assert identify_caller(connection(object())) is None  # an object with no canonical id: not cached
    assert identify_caller(connection(True)) is None
