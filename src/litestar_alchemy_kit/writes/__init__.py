"""The write half of the cached repositories: AA's write methods with AA's signatures, tenant-bound, reading uncached.

:class:`~litestar_alchemy_kit.repository.CachedAsyncRepository` (and its sync twin) extends
:class:`GuardedWritesAsyncRepository`, which extends AA's repository. Every write method here
keeps AA's exact signature, so users' type checkers see it; the reads a write makes (``update``
loads its row first) go to the database, and a repository bound to a tenant stamps and checks
the tenant on every write. The cached read path lives in :mod:`litestar_alchemy_kit.repository`.
"""

from litestar_alchemy_kit.writes._async import GuardedWritesAsyncRepository
from litestar_alchemy_kit.writes._sync import GuardedWritesSyncRepository

__all__ = ("GuardedWritesAsyncRepository", "GuardedWritesSyncRepository")
