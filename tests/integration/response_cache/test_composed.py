"""The response cache inside AlchemyKitPlugin: the kit's cache and store, the auth feature's caller, its errors."""

from pathlib import Path
from typing import Any

import pytest
from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig
from litestar import Litestar, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody
from litestar.stores.memory import MemoryStore
from litestar.testing import AsyncTestClient

from litestar_alchemy_kit import AlchemyKitConfig, AlchemyKitPlugin, ErrorsConfig, ServiceDependency
from litestar_alchemy_kit.auth import has_role
from litestar_alchemy_kit.response_cache import (
    Caller,
    ResponseCachePlugin,
    ResponseCachePluginConfig,
    ResponseCacheRule,
)
from tests.integration.providers.models import NoteService, ProvidersBase
from tests.unit.auth._app import AUTH_CONFIG, issue, make_backend

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite, pytest.mark.memory_store]

CALLS: dict[str, int] = {}


def _called(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


@get("/notes", opt={"response_cache": ResponseCacheRule(scope="tenant")})
async def tenant_notes(notes: NamedDependency[NoteService]) -> list[str]:
    _called("tenant")
    return sorted(note.title for note in await notes.get_many())


@get("/notes/default", opt={"response_cache": True})
async def default_notes(notes: NamedDependency[NoteService], auth: NamedDependency[Any]) -> dict[str, Any]:
    """The default rule on an authenticated route: the response names the caller, so it must be theirs alone."""
    _called("default")
    return {"for": auth.subject, "titles": sorted(note.title for note in await notes.get_many())}


@get("/notes/admin", opt={"response_cache": ResponseCacheRule(scope="tenant")}, guards=[has_role("admin")])
async def admin_notes(notes: NamedDependency[NoteService]) -> list[str]:
    _called("admin")
    return sorted(note.title for note in await notes.get_many())


@get("/notes/missing", opt={"response_cache": ResponseCacheRule(scope="tenant")})
async def missing(notes: NamedDependency[NoteService]) -> None:
    _called("missing")
    await notes.count()
    msg = "no such note"
    raise NotFoundException(msg)


@post("/notes")
async def add_note(notes: NamedDependency[NoteService], data: JSONBody[dict[str, str]]) -> str:
    return str((await notes.create(data)).id)


def make(tmp_path: Path, **overrides: Any) -> Litestar:
    alchemy = SQLAlchemyAsyncConfig(
        connection_string=f"sqlite+aiosqlite:///{tmp_path / 'composed.db'}",
        metadata=ProvidersBase.metadata,
        create_all=True,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
    )
    settings: dict[str, Any] = {
        "alchemy": alchemy,
        "auth": AUTH_CONFIG,
        "errors": ErrorsConfig(),
        "services": {"notes": ServiceDependency(NoteService, scope="tenant")},
        **overrides,
    }
    backend = make_backend("jwt")
    app = Litestar(
        [tenant_notes, default_notes, admin_notes, missing, add_note],
        on_app_init=[backend.on_app_init],
        plugins=[AlchemyKitPlugin(AlchemyKitConfig(**settings))],
        stores={"cache": MemoryStore()},
    )
    app.state.backend = backend
    return app


def bearer(app: Litestar, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue(app.state.backend, user)}"}


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def test_registered_by_default_on_the_kits_cache_and_left_out_with_none(tmp_path: Path) -> None:
    app = make(tmp_path)
    [plugin] = [plugin for plugin in app.plugins.init if isinstance(plugin, ResponseCachePlugin)]
    assert plugin.config.cache_state_key == "cache"
    assert plugin.config.namespace == app.state.cache.namespace
    assert plugin.config.identify is not ResponseCachePluginConfig().identify  # the auth feature's caller
    assert not any(isinstance(p, ResponseCachePlugin) for p in make(tmp_path, response_cache=None).plugins.init)


def test_the_users_own_settings_and_plugin_win(tmp_path: Path) -> None:
    def mine(_: Any) -> Caller | None:
        return None

    app = make(tmp_path, response_cache=ResponseCachePluginConfig(identify=mine, hit_header="x-rc"))
    [plugin] = [plugin for plugin in app.plugins.init if isinstance(plugin, ResponseCachePlugin)]
    assert plugin.config.identify is mine
    assert plugin.config.hit_header == "x-rc"
    own = ResponseCachePlugin()
    alchemy = SQLAlchemyAsyncConfig(connection_string=f"sqlite+aiosqlite:///{tmp_path / 'own.db'}")
    app = Litestar(plugins=[AlchemyKitPlugin(AlchemyKitConfig(alchemy=alchemy)), own])
    assert [plugin for plugin in app.plugins.init if isinstance(plugin, ResponseCachePlugin)] == [own]


async def test_responses_live_in_the_kits_cache_and_its_commits_invalidate_them(tmp_path: Path) -> None:
    app = make(tmp_path)
    async with AsyncTestClient(app=app) as client:
        plugin = app.plugins.get(ResponseCachePlugin)
        assert plugin.engine is not None
        assert plugin.engine.cache is app.state.cache
        alice, carol, bob = (bearer(app, name) for name in ("alice", "carol", "bob"))
        await client.post("/notes", json={"title": "a"}, headers=alice)
        first = await client.get("/notes", headers=alice)
        assert (first.json(), first.headers["x-cache"]) == (["a"], "miss")
        # Tenant scope: the same tenant the provider binds the service to, shared by carol, not by bob.
        shared = await client.get("/notes", headers=carol)
        assert (shared.json(), shared.headers["x-cache"]) == (["a"], "hit")
        other = await client.get("/notes", headers=bob)
        assert (other.json(), other.headers["x-cache"]) == ([], "miss")
        assert CALLS["tenant"] == 2
        await client.post("/notes", json={"title": "b"}, headers=carol)
        fresh = await client.get("/notes", headers=alice)
        assert (fresh.json(), fresh.headers["x-cache"]) == (["a", "b"], "miss")
        assert (await client.get("/notes", headers=alice)).headers["x-cache"] == "hit"
        assert (await client.get("/notes", headers=bob)).headers["x-cache"] == "hit"  # globex untouched


async def test_the_default_on_an_authenticated_route_is_the_caller_alone(tmp_path: Path) -> None:
    app = make(tmp_path)
    async with AsyncTestClient(app=app) as client:
        alice, carol = bearer(app, "alice"), bearer(app, "carol")
        for headers, name in ((alice, "alice"), (carol, "carol")):
            answers = [await client.get("/notes/default", headers=headers) for _ in range(2)]
            assert [answer.json()["for"] for answer in answers] == [name, name]
            assert [answer.headers["x-cache"] for answer in answers] == ["miss", "hit"]
        assert CALLS["default"] == 2


async def test_guards_run_before_a_hit_and_their_problem_is_never_stored(tmp_path: Path) -> None:
    app = make(tmp_path)
    async with AsyncTestClient(app=app) as client:
        alice, carol = bearer(app, "alice"), bearer(app, "carol")  # one tenant; alice is an admin, carol is not
        assert (await client.get("/notes/admin", headers=alice)).headers["x-cache"] == "miss"
        assert (await client.get("/notes/admin", headers=alice)).headers["x-cache"] == "hit"
        for _ in range(2):
            refused = await client.get("/notes/admin", headers=carol)
            assert refused.status_code == 403
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["code"] == "forbidden"
        assert CALLS["admin"] == 1


async def test_problem_responses_are_never_stored(tmp_path: Path) -> None:
    app = make(tmp_path)
    async with AsyncTestClient(app=app) as client:
        alice = bearer(app, "alice")
        for _ in range(3):
            answer = await client.get("/notes/missing", headers=alice)
            assert answer.status_code == 404
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.headers["x-cache"] == "bypass"
        assert CALLS["missing"] == 3
        engine = app.plugins.get(ResponseCachePlugin).engine
        assert engine is not None
        assert engine.telemetry.bypass_reasons.get("status 404") == 3
        # A caller in no tenant on a tenant route: no key (bypass), and the provider's 403 is not stored either.
        dave = await client.get("/notes", headers=bearer(app, "dave"))
        assert (dave.status_code, dave.headers["x-cache"]) == (403, "bypass")
