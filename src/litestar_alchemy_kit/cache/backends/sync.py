"""Deprecated: moved to :mod:`litestar_alchemy_kit.cache.backends.coerce` (removed in 0.3)."""

import warnings

from litestar_alchemy_kit.cache.backends.coerce import as_sync_backend

__all__ = ("as_sync_backend",)
__deprecated__ = "import from litestar_alchemy_kit.cache.backends; removed in 0.3"

warnings.warn(
    "litestar_alchemy_kit.cache.backends.sync is deprecated: import as_sync_backend from "
    "litestar_alchemy_kit.cache.backends (the module is now cache.backends.coerce); removed in 0.3",
    DeprecationWarning,
    stacklevel=2,
)
