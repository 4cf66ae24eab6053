"""Providers without the composed plugin, list filters, and the same services in a worker."""

import tempfile
from pathlib import Path
from typing import Any

from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from advanced_alchemy.filters import FilterTypes
from advanced_alchemy.mixins import AuditColumns, UUIDPrimaryKey
from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation
from litestar.stores.memory import MemoryStore
from litestar.testing import TestClient
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from litestar_alchemy_kit import (
    AsyncServiceContext,
    AuthContext,
    CachedAsyncRepository,
    CachedAsyncRepositoryService,
    CachePlugin,
    CachePluginConfig,
    TenantScope,
    create_service_dependencies,
    tenant_column,
)


class Base(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Task(UUIDPrimaryKey, AuditColumns, Base):
    __tablename__ = "task"

    tenant_id: Mapped[str] = tenant_column(String(64))
    title: Mapped[str] = mapped_column(String(200))


class TaskRepository(CachedAsyncRepository[Task]):
    model_type = Task


class TaskService(CachedAsyncRepositoryService[Task, TaskRepository]):
    repository_type = TaskRepository


# -- begin handler
@get("/tasks")
async def list_tasks(
    tasks: NamedDependency[TaskService], filters: NamedDependency[SkipValidation[list[FilterTypes]]]
) -> dict[str, Any]:
    found, total = await tasks.get_many_and_count(*filters)  # cached, per tenant and per filter values
    return {"titles": [task.title for task in found], "total": total}


# -- end handler
# -- begin dependencies
def caller() -> AuthContext[Any, Any]:
    # Stands in for AuthPlugin's "auth" dependency (a real app registers AuthPlugin).
    return AuthContext(user="ann", tenant_id="acme", subject="ann")


dependencies = {
    "auth": Provide(caller, sync_to_thread=False),
    **create_service_dependencies(
        TaskService,
        "tasks",
        scope="tenant",
        filters={"pagination_type": "limit_offset", "search": "title", "sort_field": "title", "sort_order": "asc"},
    ),
}
# -- end dependencies


def create_app(database_url: str) -> Litestar:
    alchemy = SQLAlchemyAsyncConfig(
        connection_string=database_url,
        metadata=Base.metadata,
        create_all=True,
        session_config=AsyncSessionConfig(expire_on_commit=False),
    )
    return Litestar(
        [list_tasks],
        dependencies=dependencies,
        plugins=[SQLAlchemyPlugin(config=alchemy), CachePlugin(CachePluginConfig(store="cache"))],
        stores={"cache": MemoryStore()},
    )


# -- begin worker
async def import_tasks(app: Litestar, tenant: str, titles: list[str]) -> None:
    """A CLI command or a background job: the app's sessions and cache, an explicit scope."""
    async with AsyncServiceContext.from_app(app, scope=TenantScope(tenant)) as context:
        await context.service(TaskService).create_many([{"title": title} for title in titles])
    # committed: the app's cached lists of this tenant's tasks are invalidated, in every process


# -- end worker


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        app = create_app(f"sqlite+aiosqlite:///{Path(directory) / 'tasks.db'}")
        with TestClient(app) as client:
            assert client.get("/tasks").json() == {"titles": [], "total": 0}
            assert client.get("/tasks").json() == {"titles": [], "total": 0}  # a hit
            with client.portal() as portal:  # the worker runs on an event loop of its own
                portal.call(import_tasks, app, "acme", ["b", "a", "c"])
            assert client.get("/tasks", params={"pageSize": 2}).json() == {"titles": ["a", "b"], "total": 3}
            schema = app.openapi_schema.to_schema()
            names = {parameter["name"] for parameter in schema["paths"]["/tasks"]["get"]["parameters"]}
            assert {"currentPage", "pageSize", "searchString", "orderBy"} <= names
