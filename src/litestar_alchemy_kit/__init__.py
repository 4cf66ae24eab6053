"""Litestar + Advanced Alchemy extensions: cache-safe repositories, scoped caching, auth context, error contract."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("litestar-alchemy-kit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
    __version__ = "0.0.0"

__all__ = ("__version__",)
