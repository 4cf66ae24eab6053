"""Where the demo keeps its data: SQLite in memory and a bounded memory store, or PostgreSQL and Redis.

``DEMO_PROFILE=servers`` switches to PostgreSQL + Redis (``DEMO_POSTGRES_URL``, ``DEMO_REDIS_URL``
override the local defaults). Data does not outlive the process unless ``DEMO_KEEP_DATA=1``.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from advanced_alchemy.extensions.litestar import AsyncSessionConfig, EngineConfig, SQLAlchemyAsyncConfig
from litestar.stores.base import Store
from sqlalchemy.pool import StaticPool

from examples.demo.models import Base
from litestar_alchemy_kit import BoundedMemoryStore


@dataclass(frozen=True)
class Settings:
    profile: str
    database_url: str
    keep_data: bool
    redis_url: str | None

    @classmethod
    def from_env(cls) -> "Settings":
        profile = os.environ.get("DEMO_PROFILE", "embedded")
        keep = os.environ.get("DEMO_KEEP_DATA", "") == "1"
        if profile == "servers":
            return cls(
                profile,
                os.environ.get("DEMO_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"),
                keep,
                os.environ.get("DEMO_REDIS_URL", "redis://127.0.0.1:6379/0"),
            )
        if profile != "embedded":
            msg = f"DEMO_PROFILE must be 'embedded' or 'servers', got {profile!r}"
            raise ValueError(msg)
        path = Path(__file__).with_name("demo.sqlite")
        return cls(profile, f"sqlite+aiosqlite:///{path}" if keep else "sqlite+aiosqlite:///:memory:", keep, None)

    def alchemy(self) -> SQLAlchemyAsyncConfig:
        # In-memory SQLite lives as long as its one connection: share it (StaticPool).
        in_memory = self.database_url.endswith(":memory:")
        return SQLAlchemyAsyncConfig(
            connection_string=self.database_url,
            metadata=Base.metadata,
            engine_config=EngineConfig(poolclass=StaticPool) if in_memory else EngineConfig(),
            session_config=AsyncSessionConfig(expire_on_commit=False),
            before_send_handler="autocommit",
        )

    def cache_store(self) -> Store:
        if self.redis_url is None:
            return BoundedMemoryStore()  # 64 MiB, LRU: memory stays bounded however many keys requests make
        from litestar.stores.redis import RedisStore  # noqa: PLC0415 - the redis extra, only for DEMO_PROFILE=servers

        return RedisStore.with_client(url=self.redis_url, namespace="lakdemo")
