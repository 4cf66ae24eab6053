"""What the async scenarios need that unasyncd cannot translate."""

from __future__ import annotations

import inspect
from typing import Any

from sqlalchemy.util import await_only


def run_inline(outcome: Any) -> Any:
    """Run ``outcome`` to completion from inside a SQLAlchemy event handler.

    Async scenarios hand in a coroutine (awaited through SQLAlchemy's greenlet bridge, as the
    handler runs inside ``AsyncSession``'s greenlet); sync scenarios have already run the call.
    """
    if inspect.isawaitable(outcome):
        return await_only(outcome)
    return outcome


def sync_session_of(session: Any) -> Any:
    """The ``Session`` events are attached to (an ``AsyncSession`` wraps one)."""
    return getattr(session, "sync_session", session)


async def sync_call_async(target: Any, fn: Any) -> Any:
    """``await target.run_sync(fn)`` on an async connection or session (sync twin: :func:`sync_call`)."""
    return await target.run_sync(fn)


def sync_call(target: Any, fn: Any) -> Any:
    """``fn(target)`` on a sync connection or session (what :func:`sync_call_async` becomes in sync code)."""
    return fn(target)


def sync_engine_of(engine: Any) -> Any:
    """The ``Engine`` events are attached to (an ``AsyncEngine`` wraps one)."""
    return getattr(engine, "sync_engine", engine)


def unreachable_cache_async(policy: str, namespace: str) -> Any:
    """An ``AsyncCache`` on a Redis nobody listens on (every marker fails fast), under commit ``policy``."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from litestar_alchemy_kit.cache import AsyncCache, AsyncRedisBackend, CacheOptions
    from tests._backends import free_port

    # no retries: a refused connection fails at once, as a partitioned store does after its timeout
    client = Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2, retry=Retry(NoBackoff(), 0))
    options = CacheOptions(commit_policy=policy, timeout=0.2, breaker_threshold=1000)  # type: ignore[arg-type]
    return AsyncCache(AsyncRedisBackend(client), namespace=namespace, options=options)


def unreachable_cache(policy: str, namespace: str) -> Any:
    """:func:`unreachable_cache_async` for sync code: a ``SyncCache``."""
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from litestar_alchemy_kit.cache import CacheOptions, SyncCache
    from tests._backends import free_port

    # no retries: a refused connection fails at once, as a partitioned store does after its timeout
    client = Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2, retry=Retry(NoBackoff(), 0))
    options = CacheOptions(commit_policy=policy, timeout=0.2, breaker_threshold=1000)  # type: ignore[arg-type]
    return SyncCache(client, namespace=namespace, options=options)


async def drain_outbox_async(outbox: Any, engine: Any, cache: Any) -> bool:
    """``await outbox.drain_async(engine, cache)`` (sync twin: :func:`drain_outbox`)."""
    return bool(await outbox.drain_async(engine, cache))


def drain_outbox(outbox: Any, engine: Any, cache: Any) -> bool:
    """``outbox.drain_sync(engine, cache)``."""
    return bool(outbox.drain_sync(engine, cache))
