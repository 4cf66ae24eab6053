"""The app of the worker tests, built the same way by the test and by the worker processes.

Usage of the worker: ``python -m tests.integration.providers._worker_app MODE DB_PATH STORE URL NAMESPACE NOTE_ID``
with MODE ``async`` or ``sync`` and STORE ``redis_store`` or ``valkey_store``. Protocol on stdin/stdout,
one line each: ``set <title>`` -> ``ok`` once the update through a service context is committed.
"""

import asyncio
import sys
import uuid
from typing import Any

from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig, SQLAlchemySyncConfig
from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.stores.base import Store

from litestar_alchemy_kit import AlchemyKitConfig, AlchemyKitPlugin, CachePluginConfig, ServiceDependency
from litestar_alchemy_kit.auth import AuthContext, TenantScope
from litestar_alchemy_kit.providers import AsyncServiceContext, SyncServiceContext
from tests.integration.providers.models import NoteService, ProvidersBase, SyncNoteService

TENANT = "acme"


def make_store(kind: str, url: str, namespace: str) -> Store:
    if kind == "redis_store":
        from litestar.stores.redis import RedisStore

        return RedisStore.with_client(url=url, namespace=namespace)
    from litestar.stores.valkey import ValkeyStore

    return ValkeyStore.with_client(url=url, namespace=namespace)


def provide_auth() -> AuthContext[Any, Any]:
    return AuthContext(user="reader", tenant_id=TENANT, subject="reader")


@get("/notes/{note_id:uuid}")
async def read_note(notes: NamedDependency[NoteService], note_id: FromPath[uuid.UUID]) -> dict[str, str]:
    return {"title": (await notes.get(note_id)).title}


def build_app(db_path: str, store_kind: str, url: str, namespace: str) -> Litestar:
    alchemy = SQLAlchemyAsyncConfig(
        connection_string=f"sqlite+aiosqlite:///{db_path}",
        metadata=ProvidersBase.metadata,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
    )
    kit = AlchemyKitConfig(
        alchemy=alchemy,
        cache=CachePluginConfig(store="cache", namespace="workers"),
        services={"notes": ServiceDependency(NoteService, scope="tenant")},
    )
    return Litestar(
        [read_note],
        plugins=[AlchemyKitPlugin(kit)],
        stores={"cache": make_store(store_kind, url, namespace)},
        dependencies={"auth": Provide(provide_auth, sync_to_thread=False)},
    )


async def run_async(app: Litestar, note_id: uuid.UUID) -> None:
    loop = asyncio.get_running_loop()
    while (line := (await loop.run_in_executor(None, sys.stdin.readline)).strip()).startswith("set "):
        async with AsyncServiceContext.from_app(app, scope=TenantScope(TENANT)) as context:
            await context.service(NoteService).update({"title": line[4:]}, item_id=note_id)
        sys.stdout.write("ok\n")
        sys.stdout.flush()


def run_sync(app: Litestar, db_path: str, note_id: uuid.UUID) -> None:
    # The generated sync twin on its own sync engine; the cache comes from the app: same store, same keys.
    alchemy = SQLAlchemySyncConfig(connection_string=f"sqlite:///{db_path}")
    while (line := sys.stdin.readline().strip()).startswith("set "):
        with SyncServiceContext.from_app(app, scope=TenantScope(TENANT), alchemy=alchemy) as context:
            context.service(SyncNoteService).update({"title": line[4:]}, item_id=note_id)
        sys.stdout.write("ok\n")
        sys.stdout.flush()


if __name__ == "__main__":
    mode, db_path, store_kind, url, namespace, note = sys.argv[1:7]
    worker_app = build_app(db_path, store_kind, url, namespace)
    if mode == "async":
        asyncio.run(run_async(worker_app, uuid.UUID(note)))
    else:
        run_sync(worker_app, db_path, uuid.UUID(note))
