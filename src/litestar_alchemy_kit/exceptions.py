"""Exceptions that cross layers: raised by one (``orm``), mapped to the error contract by another (``errors``).

It sits below every layer and imports nothing from the kit.
"""

from collections.abc import Sequence

__all__ = ("CommitRefusedError",)


class CommitRefusedError(Exception):
    """A commit refused before it reached the database, because its invalidation could not be announced.

    Raised from ``Session.commit()`` under the ``"strict"`` commit policy when the cache store cannot
    take the commit's invalidation markers. The database transaction is not committed: roll the
    session back (closing it, or leaving ``session.begin()``, does). The error contract answers a
    503 with the code ``cache.commit_refused`` and a ``Retry-After``.

    Args:
        namespaces: the cache namespaces whose store refused the markers.
        tags: how many tags the commit would have invalidated.
    """

    def __init__(self, namespaces: Sequence[str], tags: int) -> None:
        self.namespaces = tuple(namespaces)
        self.tags = tags
        super().__init__(
            f"commit refused: the cache store of namespace(s) {', '.join(self.namespaces)} cannot take the"
            f" invalidation markers of {tags} tag(s) (commit_policy='strict'); the transaction was not committed"
        )
