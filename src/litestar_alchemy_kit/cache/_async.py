"""The cache: versioned entries over a store, failing open.

Every entry is labelled with the versions of the tags it depends on (and of the namespace),
read *before* the value was computed; a hit requires every label to equal the current version,
read in the same store round trip as the entry. Bumping a tag writes a new random token, so any
entry computed before the bump can never hit again, in any process sharing the store.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar

from litestar_alchemy_kit.cache._guarded_async import AsyncGuardedBackend
from litestar_alchemy_kit.cache._runtime import AsyncBackground, AsyncSingleFlight
from litestar_alchemy_kit.cache.backends import AsyncCacheBackend, AsyncClosingBackend, ClusteredBackend
from litestar_alchemy_kit.cache.backends.store import as_async_backend
from litestar_alchemy_kit.cache.codec import FORMAT, Entry, decode_entry, encode_entry
from litestar_alchemy_kit.cache.keys import KeyBuilder
from litestar_alchemy_kit.cache.limits import TOO_LARGE, CacheLimits
from litestar_alchemy_kit.cache.markers import versions_of
from litestar_alchemy_kit.cache.naming import KeyNaming
from litestar_alchemy_kit.cache.options import CacheOptions
from litestar_alchemy_kit.cache.recording import current_recorder
from litestar_alchemy_kit.cache.telemetry import Telemetry
from litestar_alchemy_kit.cache.types import MISS, Lookup, TagVersions, new_token, new_tokens
from litestar_alchemy_kit.cache.types import unique_tags as _unique
from litestar_alchemy_kit.cache.types import version_text as _text

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence


T = TypeVar("T")
logger = logging.getLogger("litestar_alchemy_kit.cache")


_Found = tuple[Any, bool, TagVersions | None]
_PENDING = "invalidation_pending"  # a tag has an invalidation this process has not delivered yet
_UNAVAILABLE = "store_unavailable"  # the store failed, timed out, or the breaker is open
_MARKED = "invalidation_marked"  # a commit touching a tag is in flight (its marker is in the store)
_UNDRAINED = "outbox_undrained"  # the invalidation outbox has not been drained within its staleness bound
_FOREVER = float("inf")


class AsyncCache(KeyNaming):
    """A versioned, fail-open cache over a store backend.

    On Redis/Valkey a hit, validation included, is one ``MGET`` and bumping the tags of a commit
    is one ``MSET``. No method raises because of the store: errors and timeouts are misses, and
    undelivered bumps are retried while the affected tags are served uncached.

    Args:
        store: anything :func:`as_async_backend` accepts (for the async cache: any Litestar store,
            whose Redis/Valkey client is used directly, or an :class:`AsyncCacheBackend`).
        namespace: prefix of every key (1-64 of ``A-Z a-z 0-9 _ . -``); caches with different
            namespaces on one store never see or delete each other's entries.
        options: tunables; defaults to :class:`CacheOptions`.
    """

    _RECENT_MAX = 1024

    def __init__(self, store: Any, namespace: str = "lak", options: CacheOptions | None = None) -> None:
        self.options = options if options is not None else CacheOptions()
        self._backend: AsyncCacheBackend = as_async_backend(store)
        self._keys = KeyBuilder(
            namespace, self._backend.layout if isinstance(self._backend, ClusteredBackend) else None
        )
        self._placed = self._keys.layout is not None  # a cluster: entries sit beside their versions (cache.layout)
        self._codec = self.options.codec
        self._telemetry = Telemetry(namespace, self.options.telemetry)
        # every store call goes through it: bounded, behind the circuit breaker, failing open
        self._store = AsyncGuardedBackend(self._backend, self.options, self._telemetry, namespace)
        self._flight = AsyncSingleFlight()
        self._background = AsyncBackground()
        # tag -> generation of its latest undelivered bump (0 for the namespace: none pending)
        self._pending: dict[str, int] = {}
        self._pending_namespace = 0
        self._pending_marks: dict[str, int] = {}  # marker id -> generation of its undelivered settle
        self._generation = 0
        self._pending_lock = threading.Lock()  # the sync twin bumps from many threads
        self._closed = False
        self._serve_until = _FOREVER
        self._refreshing: dict[str, int] = {}
        self._recent: dict[tuple[str, str], tuple[float, Any]] = {}
        self._plan = self._keys.plan

    # --- introspection -------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        """The key namespace."""
        return self._keys.namespace

    @property
    def backend(self) -> AsyncCacheBackend:
        """The backend the cache talks to."""
        return self._backend

    @property
    def stats(self) -> Mapping[str, int]:
        """Counts of hit / miss / bypass / error / stale_served since creation."""
        return self._telemetry.stats

    @property
    def bypass_reasons(self) -> Mapping[str, int]:
        """Bypasses by reason (``too_large``, ``store_unavailable``, ...) since creation; reasonless ones are in :attr:`stats`."""
        return self._telemetry.bypass_reasons

    @property
    def pending_tags(self) -> frozenset[str]:
        """Tags whose invalidation has not reached the store yet (served uncached meanwhile)."""
        return frozenset(self._pending)

    @property
    def breaker_open(self) -> bool:
        """Whether the circuit breaker currently refuses store calls."""
        return self._store.breaker.is_open

    @property
    def drained(self) -> bool:
        """Whether hits may be served now (no invalidation outbox, or its drains are within their bound)."""
        return time.monotonic() < self._serve_until

    def serve_until(self, deadline: float) -> None:
        """Serve hits only before ``deadline`` (a ``time.monotonic()`` value); an invalidation outbox moves it."""
        self._serve_until = deadline

    def record_bypass(self, amount: int = 1, reason: str | None = None) -> None:
        """Count a read that skipped the cache (e.g. a query that cannot be fingerprinted), with its ``reason``."""
        if reason is None:
            self._telemetry.count("bypass", amount)
        else:
            self._telemetry.bypass(reason, amount)

    # --- pending invalidations ----------------------------------------------------------------

    def _blocked(self, tags: Iterable[str]) -> bool:
        if not self._pending and not self._pending_namespace:
            return False
        self._schedule_retry()
        return bool(self._pending_namespace) or not self._pending.keys().isdisjoint(tags)

    def _schedule_retry(self) -> None:
        # A retry task gone with its event loop (closed, or never run again) is replaced.
        if not self._closed:
            self._background.spawn_once("retry", self._retry_pending)

    async def _retry_pending(self) -> None:
        delay = self.options.retry_initial
        while (self._pending or self._pending_namespace) and not self._closed:
            await asyncio.sleep(delay)
            await self._deliver(list(self._pending), namespace=bool(self._pending_namespace))
            delay = min(delay * 2, self.options.retry_max)

    async def _deliver(self, tags: Sequence[str], namespace: bool = False, marker: str | None = None) -> bool:
        """Write new tokens for ``tags`` (and the namespace), settling ``marker`` and every pending marker.

        On success, clear what was pending before the write: a bump failing while it is in flight stays pending.
        """
        tag_key = self._keys.tag
        items = {tag_key(tag): token for tag, token in zip(tags, new_tokens(len(tags)), strict=True)}
        if namespace:
            items.update(dict.fromkeys(self._keys.namespace_keys, new_token().encode()))  # one token, every copy
        if not items:
            return True
        pending = self._pending
        before = [(tag, pending.get(tag)) for tag in tags]
        namespace_before = self._pending_namespace
        marks_before = list(self._pending_marks.items())
        marker_ids = [marker_id for marker_id, _ in marks_before]
        if marker:
            marker_ids.append(marker)
        if not await self._store.write_many(items, marker_ids):
            return False
        with self._pending_lock:
            for tag, generation in before:
                if generation is not None and pending.get(tag) == generation:
                    del pending[tag]
            if namespace and self._pending_namespace == namespace_before:
                self._pending_namespace = 0
            for marker_id, generation in marks_before:
                if self._pending_marks.get(marker_id) == generation:
                    del self._pending_marks[marker_id]
        return True

    def _undelivered(self, tags: Iterable[str], namespace: bool = False, marker: str | None = None) -> None:
        with self._pending_lock:
            self._generation += 1
            for tag in tags:
                self._pending[tag] = self._generation
            if namespace:
                self._pending_namespace = self._generation
            if marker:
                self._pending_marks[marker] = self._generation
        self._schedule_retry()

    # --- the API --------------------------------------------------------------------------------

    async def versions(self, tags: Iterable[str]) -> TagVersions | None:
        """The current versions of ``tags``; read them *before* computing the value to cache.

        ``None``: the result must not be cached (the store is failing, or a tag has an invalidation this process
        could not deliver yet). Missing versions are initialised with fresh random tokens (never an old value).
        """
        names, keys = self._plan(tags)
        recorder = current_recorder()
        if recorder is not None:
            recorder.need(names)
        if self._blocked(names):
            self._telemetry.bypass(_PENDING)
            return None
        raw = await self._store.fetch(keys)
        if raw is not None and None in raw:
            raw = await self._store.initialised(keys, raw)
        if raw is None:
            self._telemetry.bypass(_UNAVAILABLE)
            return None
        versions = versions_of(raw, names)
        if versions is None:
            # A commit on one of these tags is in flight: what the database returns now may be overwritten by it,
            # and its writer may never settle the marker. Labelled with nothing, it is not cached.
            self._telemetry.bypass(_MARKED)
            return None
        if recorder is not None:
            recorder.observe(versions, self)  # read before the caller computes what it labels with them
        return versions

    async def _lookup(
        self, key: str, plan: tuple[list[str], list[str]], schema: str, *, record: bool = True, observe: bool = True
    ) -> _Found:
        """The entry's value (or :data:`MISS`), whether it is past its ttl, and (if ``observe``) the versions read."""
        names, version_keys = plan
        recorder = current_recorder()
        if recorder is not None:
            recorder.need(names)
        if (self._pending or self._pending_namespace) and self._blocked(names):
            if record:
                self._telemetry.bypass(_PENDING)
            return MISS, False, None
        if self._serve_until is not _FOREVER and time.monotonic() >= self._serve_until:
            if record:
                self._telemetry.bypass(_UNDRAINED)
            return MISS, False, None
        raw = await self._store.fetch([self._keys.place(key, version_keys) if self._placed else key, *version_keys])
        if raw is None:
            if record:
                self._telemetry.count("miss")
            return MISS, False, None
        value, stale = self._validate(raw, names, schema)
        hit = value is not MISS and not stale
        if record:
            self._telemetry.count("hit" if hit else "miss")
        # A miss may label its load with the versions unless one is marked (absent ones are initialised here, as
        # versions() would, saving the load a second read); a hit needs them only for a response being recorded
        # (the valid entry was computed under them).
        wanted = (observe and not hit) or recorder is not None
        rest = raw[1:]
        current = await self._store.initialised(version_keys, rest) if observe and not hit and None in rest else rest
        observed = versions_of(current, names) if wanted and current is not None else None
        if recorder is not None and observed is not None:
            recorder.observe(observed, self)
        return value, stale, observed

    async def lookup(self, key: str, tags: Iterable[str], schema: str = "") -> Lookup:
        """The entry at ``key`` and the current versions of ``tags``, in one store round trip.

        For callers that derive something from the versions (an ETag) or that compute a value after
        this call and store it under these versions (they were read before the computation). The
        value is :data:`MISS` unless the entry carries exactly ``tags`` at their current versions;
        an entry stored under other tags reports them in ``labels``. Never raises for store errors.
        """
        names, version_keys = self._plan(tags)
        recorder = current_recorder()
        if recorder is not None:
            recorder.need(names)
        if (self._pending_namespace or self._pending) and self._blocked(names):
            self._telemetry.count("bypass")
            return Lookup(MISS, None, None)
        if self._serve_until is not _FOREVER and time.monotonic() >= self._serve_until:
            self._telemetry.bypass(_UNDRAINED)
            return Lookup(MISS, None, None)
        raw = await self._store.fetch([self._keys.place(key, version_keys) if self._placed else key, *version_keys])
        if raw is None:
            self._telemetry.count("miss")
            return Lookup(MISS, None, None)
        versions = versions_of(raw[1:], names)
        if recorder is not None and versions is not None:
            recorder.observe(versions, self)
        value, stale = self._validate(raw, names, schema)
        labels: tuple[str, ...] | None = None
        if value is MISS and raw[0] is not None:
            entry = decode_entry(raw[0])
            labels = None if entry is None else tuple(entry.tags)
        if stale:
            value = MISS
        self._telemetry.count("miss" if value is MISS else "hit")
        return Lookup(value, versions, labels)

    def _validate(self, raw: list[bytes | None], tags: list[str], schema: str) -> tuple[Any, bool]:
        """Check the entry ``raw[0]`` against the versions read with it (``raw[1:]``: namespace, then ``tags``)."""
        blob = raw[0]
        if blob is None or None in raw:
            return MISS, False
        entry = decode_entry(blob)
        if entry is None or entry.codec != self._codec.name:
            # Foreign or corrupted bytes: a miss, which the next set replaces.
            self._telemetry.count("error")
            return MISS, False
        labels = entry.tags
        if entry.schema != schema or entry.namespace_version != _text(raw[1]) or len(labels) != len(tags):
            return MISS, False
        for index, tag in enumerate(tags, 2):
            if labels.get(tag) != _text(raw[index]):
                return MISS, False
        try:
            value = self._codec.decode(entry.payload)
        except Exception:  # noqa: BLE001 - an undecodable payload is a miss
            self._telemetry.count("error")
            return MISS, False
        return value, entry.fresh_until is not None and entry.fresh_until <= time.time()

    async def get(self, key: str, tags: Iterable[str] = (), schema: str = "", *, row_tag: str | None = None) -> Any:
        """The cached value, or :data:`MISS`; never raises for store errors.

        A hit needs the entry to exist, decode, carry ``schema``, and carry exactly ``tags`` and ``row_tag`` (a
        last tag of this entry alone, not memoized) at their current versions, checked in the same round trip.
        """
        return (await self.read(key, tags, schema, row_tag=row_tag, observe=False))[0]

    async def read(
        self, key: str, tags: Iterable[str] = (), schema: str = "", *, row_tag: str | None = None, observe: bool = True
    ) -> tuple[Any, TagVersions | None]:
        """:meth:`get`, and on a miss the versions of ``tags`` and ``row_tag`` read in the same round trip.

        A caller computing the value after a miss labels it with them, as with :meth:`versions`, without a
        second round trip (absent ones are initialised first, as :meth:`versions` does). ``None`` on a hit, when
        one is marked, the store did not answer (then call :meth:`versions`) or ``observe`` is false (no versions
        wanted: nothing initialised). Never raises for store errors.
        """
        plan = self._plan(tags) if row_tag is None else self._keys.plan_row(tags, row_tag)
        if not self._telemetry.tracing():  # the hot path skips even a no-op context manager
            value, stale, observed = await self._lookup(key, plan, schema, observe=observe)
        else:
            with self._telemetry.span("cache.get"):
                value, stale, observed = await self._lookup(key, plan, schema, observe=observe)
        if stale:
            return MISS, observed
        return value, observed if value is MISS else None

    async def set(  # noqa: PLR0917
        self,
        key: str,
        value: Any,
        versions: TagVersions | None,
        schema: str = "",
        ttl: float | None = None,
        limits: CacheLimits | None = None,
    ) -> bool:
        """Store ``value`` labelled with ``versions`` (from :meth:`versions`, read before computing it).

        Does nothing when ``versions`` is ``None`` or a labelled tag has an undelivered invalidation.
        An entry larger than ``limits.max_entry_bytes`` (default: ``options.limits``) is not stored and
        counts as a ``too_large`` bypass. Returns whether the entry was written; never raises for store
        or encoding errors.
        """
        if versions is None or self._blocked(versions.tags):
            return False
        with self._telemetry.span("cache.set"):
            ttl = self.options.default_ttl if ttl is None else ttl
            stale_ttl = self.options.stale_ttl
            try:
                payload = self._codec.encode(value)
            except Exception as exc:  # noqa: BLE001 - an unencodable value is simply not cached
                self._telemetry.count("error")
                logger.debug("cache value not encodable (namespace=%s): %r", self.namespace, exc)
                return False
            cap = self.options.limits if limits is None else limits
            if not cap.entry_fits(len(payload)):  # the envelope only adds to it: skip building one
                self._telemetry.bypass(TOO_LARGE)
                return False
            fresh_until = None if ttl is None else time.time() + ttl
            blob = encode_entry(
                Entry(FORMAT, self._codec.name, schema, versions.namespace, versions.tags, fresh_until, payload)
            )
            if not cap.entry_fits(len(blob)):
                # Kept out of the store whole: a truncated entry would decode to a wrong value.
                self._telemetry.bypass(TOO_LARGE)
                return False
            keep = None if ttl is None else ttl + (stale_ttl or 0.0)
            key = self.stored_key(key, tuple(versions.tags))
            return await self._store.write(key, blob, keep)

    async def bump(self, tags: Iterable[str], marker: str | None = None) -> bool:
        """Invalidate every entry depending on any of ``tags``, in every process sharing the store.

        One round trip on Redis/Valkey. ``marker`` (from :meth:`mark`) is settled by the same write. If the store
        cannot be reached the tags are retried in the background and, until delivered, this process neither serves
        nor stores entries for them. Returns whether the bump was delivered now; never raises for store errors.
        """
        names = _unique(tags)
        if not names:
            return True
        self._recent.clear()
        with self._telemetry.span("cache.bump", **{"cache.tags": len(names)}):
            if await self._deliver(names, marker=marker):
                return True
            self._undelivered(names, marker=marker)
            return False

    async def mark(self, tags: Iterable[str], namespace: bool = False, marker: str | None = None) -> str | None:
        """Phase one of a commit's invalidation: mark ``tags`` (and the namespace) in every process sharing the store.

        Until ``bump(tags, marker=...)`` settles the returned marker or it expires (``options.marker_ttl``), no
        process hits or populates entries of these tags (see *Markers* in the cache guide). One round
        trip on Redis/Valkey. ``marker``: extend that marker (from an earlier call) to ``tags``, so that one
        settle lifts both. Returns the marker, or ``None`` if the store did not take it; never raises for it.
        """
        keys = [self._keys.tag(tag) for tag in _unique(tags)]
        if namespace:
            keys.extend(self._keys.namespace_keys)
        marker_id = marker or new_token()
        if not keys:
            return marker_id
        self._recent.clear()
        with self._telemetry.span("cache.mark", **{"cache.tags": len(keys)}):
            done = await self._store.mark_many(keys, marker_id)
        if not done:  # the write may still land (it timed out in flight): the next delivery settles it too
            self._undelivered((), marker=marker_id)
        return marker_id if done else None

    async def delete(self, key: str) -> bool:
        """Remove one entry; returns whether the store confirmed it."""
        # every placement (one per slot group on a cluster layout: the entry's tags are not known here), none skipped
        removed = [await self._store.remove(placed) for placed in self._keys.placements(key)]
        return all(removed)

    async def clear(self, marker: str | None = None) -> bool:
        """Invalidate every entry of this namespace, and only of this namespace.

        Bumps the namespace version (one write, on every store), settling ``marker`` (from ``mark(...,
        namespace=True)``); where the store can enumerate keys (memory; Redis/Valkey under a store prefix) the
        namespace's keys are also deleted, matched by ``namespace + ':'`` so a sibling sharing a prefix is untouched.
        """
        self._recent.clear()
        if not await self._deliver((), namespace=True, marker=marker):
            self._undelivered((), namespace=True, marker=marker)
            return False
        await self._store.remove_prefix(self._keys.prefix)  # the version bump already invalidated everything
        return True

    async def get_or_load(
        self,
        key: str,
        tags: Iterable[str],
        loader: Callable[[], Awaitable[T]],
        schema: str = "",
        ttl: float | None = None,
    ) -> T:
        """The cached value, or ``loader()``'s result, cached under the versions read before it ran.

        Concurrent misses on ``key`` in this process run ``loader`` once. A caller only shares a load
        whose versions equal the ones it observed itself, so a load that began before a commit is
        never handed to a caller that started after that commit returned. With ``lease_ttl`` set,
        one process at a time loads (others wait up to ``lease_wait``); with ``stale_ttl`` set,
        callers arriving while a refresh runs get the expired value; with ``negative_ttl`` set,
        ``None`` results are cached that long. Exceptions from ``loader`` propagate; store errors never do.
        """
        plan = self._plan(tags)
        names = plan[0]
        with self._telemetry.span("cache.get"):
            value, stale, observed = await self._lookup(key, plan, schema)
        if value is not MISS:
            if not stale:
                result: T = value
                return result
            if self.options.stale_ttl is not None and key in self._refreshing:
                self._telemetry.count("stale_served")
                stale_value: T = value
                return stale_value
        if observed is None and value is MISS and self.drained:
            # Some versions are missing (first use, or evicted): initialise them now, so that every concurrent caller
            # converges on the same versions and so on the same load. Undrained: none shared (an outbox row's commit).
            observed = await self.versions(names)
        if observed is None:
            # No versions (store failing, or a bump of ours undelivered): this caller cannot tell whether a
            # load under way began before a commit it must see, so it shares none.
            return await self._load(key, names, loader, schema, ttl, None)
        signature = self._signature(schema, observed)
        recent = self._recent.get((key, signature))
        if recent is not None and recent[0] > time.monotonic():
            # A load under the very versions this caller observed finished a moment ago.
            shared: T = recent[1]
            return shared
        loaded: T = await self._flight.run(
            f"{key}|{signature}", lambda: self._load(key, names, loader, schema, ttl, observed)
        )
        return loaded

    def _signature(self, schema: str, observed: TagVersions) -> str:
        return f"{schema}|{observed.namespace}|{'|'.join(observed.tags.values())}"

    async def _load(  # noqa: PLR0917
        self,
        key: str,
        tags: list[str],
        loader: Callable[[], Awaitable[T]],
        schema: str,
        ttl: float | None,
        observed: TagVersions | None,
    ) -> T:
        lease_ttl = self.options.lease_ttl
        lease_key: str | None = None
        if lease_ttl is not None:
            lease_key = self._keys.lease(key)
            taken = await self._store.add(lease_key, new_token().encode(), lease_ttl)
            if taken is False:
                lease_key = None  # another process holds it
            value = await self._after_lease(key, tags, schema, taken, lease_key)
            if value is not MISS:
                found: T = value
                return found
        self._refreshing[key] = self._refreshing.get(key, 0) + 1
        try:
            # The versions observed by the lookup were read before the loader runs: they label the value.
            versions = observed if observed is not None else await self.versions(tags)
            result = await loader()
            if versions is not None:
                if result is not None:
                    await self.set(key, result, versions, schema, ttl)
                elif self.options.negative_ttl is not None:
                    await self.set(key, None, versions, schema, self.options.negative_ttl)
                if result is not None or self.options.negative_ttl is not None:
                    lifetime = ttl if result is not None else self.options.negative_ttl
                    self._remember(key, self._signature(schema, versions), result, lifetime)
            return result
        finally:
            remaining = self._refreshing.pop(key) - 1
            if remaining:
                self._refreshing[key] = remaining
            if lease_key is not None:
                await self._store.remove(lease_key)

    def _remember(self, key: str, signature: str, value: Any, ttl: float | None) -> None:
        # Callers whose lookup raced the load (read before the set landed) share its result, for at most the
        # store timeout: they observed the same versions, so it is as fresh as joining.
        if len(self._recent) >= self._RECENT_MAX:
            self._recent.clear()
        lifetime = self.options.timeout if ttl is None else min(ttl, self.options.timeout)
        self._recent[key, signature] = (time.monotonic() + lifetime, value)

    async def _after_lease(self, key: str, tags: list[str], schema: str, taken: bool | None, lease: str | None) -> Any:
        """The value a caller finds once it asked for the lease (``MISS``: it loads; ``taken`` None: no answer)."""
        if taken is False:  # another process holds it
            return await self._wait_for_holder(key, tags, schema)
        if taken:  # the last holder may have stored its value after this caller's lookup missed: look once more
            value, stale, _ = await self._lookup(key, self._plan(tags), schema, record=False, observe=False)
            if value is not MISS and not stale:
                if lease is not None:
                    await self._store.remove(lease)
                return value
        return MISS

    async def _wait_for_holder(self, key: str, tags: list[str], schema: str) -> Any:
        deadline = time.monotonic() + self.options.lease_wait
        while time.monotonic() < deadline:
            await asyncio.sleep(self.options.lease_poll)
            value, stale, _ = await self._lookup(key, self._plan(tags), schema, record=False, observe=False)
            if value is not MISS and not stale:
                return value
        return MISS

    async def close(self) -> None:
        """Stop background retries, try once more to deliver pending bumps, close the backend's own connections.

        A bump still undelivered then is lost to other processes (they serve entries it should have invalidated
        until those expire): it is logged as an error.
        """
        self._closed = True
        await self._background.close()
        if (self._pending or self._pending_namespace) and not await self._deliver(
            list(self._pending), namespace=bool(self._pending_namespace)
        ):
            logger.error(
                "cache closed with undelivered invalidations (namespace=%s, tags=%s, namespace bump=%s)",
                self.namespace,
                sorted(self._pending),
                bool(self._pending_namespace),
            )
        if isinstance(self._backend, AsyncClosingBackend):
            await self._backend.aclose()
