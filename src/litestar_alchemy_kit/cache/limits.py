"""Size caps on what the cache stores: values over them are served uncached, never truncated."""

from dataclasses import dataclass

__all__ = ("TOO_LARGE", "CacheLimits")

TOO_LARGE = "too_large"
"""The bypass reason counted when a value or a result is over a :class:`CacheLimits` cap."""


@dataclass(frozen=True)
class CacheLimits:
    """Caps on one cached entry; a value over a cap is not stored and is counted as a ``too_large`` bypass.

    The caller still gets the value (computed or read from the database): a cap only decides
    whether it is kept. Set in :attr:`CacheOptions.limits <litestar_alchemy_kit.cache.CacheOptions.limits>`
    for a cache, and in a repository's ``cache_limits`` to narrow or widen them for its results.
    """

    max_entry_bytes: int | None = 1024 * 1024
    """Largest stored entry in bytes (encoded value plus its envelope of tag versions); ``None``: no cap."""

    max_rows: int | None = 10_000
    """Largest number of rows a cached repository result may hold; ``None``: no cap. Checked before the
    rows are encoded, so an oversized result costs no encoding."""

    def __post_init__(self) -> None:
        for name in ("max_entry_bytes", "max_rows"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                msg = f"cache limit {name} must be a positive int or None, got {value!r}"
                raise ValueError(msg)

    def entry_fits(self, size: int) -> bool:
        """Whether an encoded entry of ``size`` bytes may be stored."""
        return self.max_entry_bytes is None or size <= self.max_entry_bytes

    def rows_fit(self, count: int) -> bool:
        """Whether a result of ``count`` rows may be stored."""
        return self.max_rows is None or count <= self.max_rows
