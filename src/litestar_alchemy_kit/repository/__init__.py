"""Cache-safe Advanced Alchemy repositories (async source, generated sync)."""

from litestar_alchemy_kit.orm import bind_cache, table_tag
from litestar_alchemy_kit.orm.tenancy import TenantBinding
from litestar_alchemy_kit.repository._async import CachedAsyncRepository
from litestar_alchemy_kit.repository._sync import CachedSyncRepository

__all__ = ("CachedAsyncRepository", "CachedSyncRepository", "TenantBinding", "bind_cache", "table_tag")
