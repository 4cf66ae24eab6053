"""Getting started: from zero to a tenant-scoped, cached service, with one plugin."""

import tempfile
from pathlib import Path
from typing import Any

from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.mixins import UUIDPrimaryKey
from litestar import Litestar, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.security.jwt import JWTAuth, Token
from litestar.stores.memory import MemoryStore
from litestar.testing import TestClient
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from litestar_alchemy_kit import (
    AlchemyKitConfig,
    AlchemyKitPlugin,
    AuthConfig,
    CachedAsyncRepository,
    CachedAsyncRepositoryService,
    CachePluginConfig,
    ErrorsConfig,
    ServiceDependency,
    tenant_column,
)

# -- begin models


class Base(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Note(UUIDPrimaryKey, Base):
    __tablename__ = "note"

    tenant_id: Mapped[str] = tenant_column(String(64))  # the tenant, declared once
    title: Mapped[str] = mapped_column(String(200))


class NoteRepository(CachedAsyncRepository[Note]):
    model_type = Note


class NoteService(CachedAsyncRepositoryService[Note, NoteRepository]):
    repository_type = NoteRepository


# -- end models
# -- begin auth


class User:
    def __init__(self, name: str, tenant: str) -> None:
        self.name, self.tenant = name, tenant


USERS = {"alice": User("alice", "acme"), "bob": User("bob", "globex")}


async def retrieve_user(token: Token, _: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    return USERS.get(token.sub)


jwt_auth = JWTAuth[User](retrieve_user_handler=retrieve_user, token_secret="change me: at least 32 bytes long")
# -- end auth
# -- begin handlers


@get("/notes")
async def list_notes(notes: NamedDependency[NoteService]) -> list[str]:
    return [note.title for note in await notes.get_many()]


@post("/notes")
async def add_note(notes: NamedDependency[NoteService], data: JSONBody[dict[str, str]]) -> str:
    note = await notes.create({"title": data["title"]})  # stamped with the caller's tenant
    return str(note.id)


# -- end handlers
# -- begin app


def create_app(database_url: str) -> Litestar:
    kit = AlchemyKitConfig(
        connection_string=database_url,
        metadata=Base.metadata,  # tables created at startup
        cache=CachePluginConfig(store="cache", namespace="notes"),
        auth=AuthConfig[User, Token](tenant_of=lambda user, _: user.tenant),
        errors=ErrorsConfig(),
        services={"notes": ServiceDependency(NoteService, scope="tenant")},
    )
    return Litestar(
        [list_notes, add_note],
        on_app_init=[jwt_auth.on_app_init],
        plugins=[AlchemyKitPlugin(kit)],
        stores={"cache": MemoryStore()},  # a RedisStore here shares the cache between processes
    )


app = create_app("sqlite+aiosqlite:///notes.db")
# -- end app


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        notes_app = create_app(f"sqlite+aiosqlite:///{Path(directory) / 'notes.db'}")
        # -- begin try
        with TestClient(notes_app) as client:
            alice = {"Authorization": f"Bearer {jwt_auth.create_token(identifier='alice')}"}
            bob = {"Authorization": f"Bearer {jwt_auth.create_token(identifier='bob')}"}
            client.post("/notes", json={"title": "hello"}, headers=alice)
            assert client.get("/notes", headers=alice).json() == ["hello"]
            assert client.get("/notes", headers=alice).json() == ["hello"]  # from the cache
            assert notes_app.state.cache.stats["hit"] >= 1
            assert client.get("/notes", headers=bob).json() == []  # another tenant sees nothing
            assert client.get("/notes").status_code == 401  # anonymous
        # -- end try
