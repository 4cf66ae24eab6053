"""``litestar cache ...`` against the demo app, through Litestar's own CLI group."""

import asyncio
import importlib

import pytest
from click.testing import CliRunner, Result
from litestar.cli.main import litestar_group
from litestar.testing import AsyncTestClient

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite, pytest.mark.memory_store]

DEMO = "examples.demo.app:app"


def cli(*args: str, app: str = DEMO) -> Result:
    return CliRunner().invoke(litestar_group, ["--app", app, *args], catch_exceptions=False)


def test_the_cache_group_is_registered() -> None:
    result = cli("cache", "--help")
    assert result.exit_code == 0, result.output
    for command in ("stats", "clear", "bump", "audit"):
        assert command in result.output


def test_stats_shows_the_apps_cache_before_any_request() -> None:
    result = cli("cache", "stats")
    assert result.exit_code == 0, result.output
    assert "namespace: demo" in result.output
    assert "store: cache (BoundedMemoryStore)" in result.output
    assert "breaker: closed" in result.output


async def test_bump_and_clear_invalidate_the_running_apps_entries() -> None:
    app = importlib.import_module("examples.demo.app").app
    async with AsyncTestClient(app=app) as client:
        token = (await client.post("/login", json={"username": "alice", "password": "alice"})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        note = (await client.post("/notes", json={"title": "cli"}, headers=headers)).json()
        url = f"/notes/{note['id']}"
        await client.get(url, headers=headers)
        assert (await client.get(url, headers=headers)).headers["x-cache"] == "hit"

        # The CLI runs its own event loop, as a separate `litestar` command would.
        bumped = await asyncio.to_thread(cli, "cache", "bump", "demo_note")
        assert bumped.exit_code == 0, bumped.output
        assert "invalidated demo_note" in bumped.output
        assert (await client.get(url, headers=headers)).headers["x-cache"] == "miss"
        assert (await client.get(url, headers=headers)).headers["x-cache"] == "hit"

        cleared = await asyncio.to_thread(cli, "cache", "clear")
        assert cleared.exit_code == 0, cleared.output
        assert (await client.get(url, headers=headers)).headers["x-cache"] == "miss"

        # Tenants are untouched by a bump of notes.
        await client.get("/tenants")
        assert (await client.get("/tenants")).headers["x-cache"] == "hit"
        await asyncio.to_thread(cli, "cache", "bump", "demo_note")
        assert (await client.get("/tenants")).headers["x-cache"] == "hit"


def test_bump_refuses_an_unknown_table_and_names_the_known_ones() -> None:
    result = CliRunner().invoke(litestar_group, ["--app", DEMO, "cache", "bump", "nope"])
    assert result.exit_code == 2
    assert "unknown table(s): nope" in result.output
    assert "demo_note" in result.output


def test_audit_reports_the_demos_guid_keys_until_reviewed() -> None:
    # AA's GUID keeps ``binary`` out of its cache key: a real finding, reported until accepted.
    found = CliRunner().invoke(litestar_group, ["--app", DEMO, "cache", "audit"])
    assert found.exit_code == 1, found.output
    assert "demo_note.id (advanced_alchemy.types.guid:GUID): state_not_in_cache_key" in found.output
    reviewed = cli("cache", "audit", "--ignore", "advanced_alchemy.types.guid:GUID")
    assert reviewed.exit_code == 0, reviewed.output
    assert "no problems in 2 table(s)" in reviewed.output


def test_audit_fails_on_a_model_with_an_unsafe_column_type() -> None:
    result = CliRunner().invoke(
        litestar_group,
        [
            "--app",
            "tests.integration.providers._unsafe_app:app",
            "cache",
            "audit",
            "--ignore",
            "advanced_alchemy.types.guid:GUID",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "lak_unsafe_label.text" in result.output
    assert "cache_ok_missing" in result.output
