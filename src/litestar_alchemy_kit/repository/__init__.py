"""Cache-safe Advanced Alchemy repositories (async and generated sync) and their invalidation."""

from litestar_alchemy_kit.repository._async import CachedAsyncRepository
from litestar_alchemy_kit.repository._invalidation import bind_cache, install
from litestar_alchemy_kit.repository._statement import table_tag
from litestar_alchemy_kit.repository._sync import CachedSyncRepository

__all__ = ("CachedAsyncRepository", "CachedSyncRepository", "bind_cache", "table_tag")

# Session events are tracked process-wide from import on, so a write made before any cached
# repository exists in a session still invalidates at its commit.
install()
