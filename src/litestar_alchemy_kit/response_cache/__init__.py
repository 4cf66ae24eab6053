"""Litestar response caching: scoped keys, never a replayed cookie, invalidated by commits, ETag/304.

- :mod:`~litestar_alchemy_kit.response_cache.config`: the plugin's settings and a route's rule;
- :mod:`~litestar_alchemy_kit.response_cache.keys`: canonical keys and ETags;
- :mod:`~litestar_alchemy_kit.response_cache.engine`: lookup, 304, store, single flight;
- :mod:`~litestar_alchemy_kit.response_cache.plugin`: the plugin and its middleware.
"""

from litestar_alchemy_kit.response_cache.config import (
    ANONYMOUS,
    Caller,
    ResponseCachePluginConfig,
    ResponseCacheRule,
    Scope,
    identify_caller,
)
from litestar_alchemy_kit.response_cache.engine import ResponseCacheEngine
from litestar_alchemy_kit.response_cache.plugin import ResponseCacheMiddleware, ResponseCachePlugin

__all__ = (
    "ANONYMOUS",
    "Caller",
    "ResponseCacheEngine",
    "ResponseCacheMiddleware",
    "ResponseCachePlugin",
    "ResponseCachePluginConfig",
    "ResponseCacheRule",
    "Scope",
    "identify_caller",
)
