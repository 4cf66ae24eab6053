"""Type variables of the cached services (kept out of the generated modules: unasyncd leaves strings alone).

Like AA's ``SQLAlchemyAsyncRepositoryT``, the repository type variable defaults to ``Any``, so a
service takes one type argument (``CachedAsyncRepositoryService[Model]``) as AA's does.
"""

from typing import Any

from typing_extensions import TypeVar

from litestar_alchemy_kit.repository import CachedAsyncRepository, CachedSyncRepository

__all__ = ("CachedAsyncRepositoryT", "CachedSyncRepositoryT")

CachedAsyncRepositoryT = TypeVar("CachedAsyncRepositoryT", bound=CachedAsyncRepository[Any], default=Any)
CachedSyncRepositoryT = TypeVar("CachedSyncRepositoryT", bound=CachedSyncRepository[Any], default=Any)
