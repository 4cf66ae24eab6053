"""The RESP reply framing of the pipelined read connection: replies in order, split anywhere, errors contained."""

from __future__ import annotations

import asyncio

import pytest

from litestar_alchemy_kit.cache.backends.pipelined import RespError, _parse, _Protocol, pack

STREAM = (
    b"*3\r\n$5\r\nhello\r\n$-1\r\n$0\r\n\r\n"  # MGET: a value, a missing key, an empty value
    b"+OK\r\n"
    b":42\r\n"
    b"-WRONGPASS invalid username-password pair\r\n"
    b"*2\r\n$12\r\nline\r\nbreaks\r\n*1\r\n:7\r\n"  # CRLF inside a value; a nested array
    b"*-1\r\n"
)
INF = float("inf")
EXPECTED = [[b"hello", None, b""], b"OK", 42, RespError, [b"line\r\nbreaks", [7]], None]


def test_pack_is_resp_array_of_bulk_strings() -> None:
    assert pack(b"MGET", b"a", b"") == b"*3\r\n$4\r\nMGET\r\n$1\r\na\r\n$0\r\n\r\n"


def test_parse_whole_stream() -> None:
    pos, values = 0, []
    while pos < len(STREAM):
        value, pos = _parse(STREAM, pos)
        values.append(value)
    assert values[:3] == EXPECTED[:3]
    assert isinstance(values[3], RespError)
    assert "WRONGPASS" in str(values[3])
    assert values[4:] == EXPECTED[4:]


async def _resolved(chunks: list[bytes]) -> list[object]:
    loop = asyncio.get_running_loop()
    protocol = _Protocol()
    waiters = [loop.create_future() for _ in EXPECTED]
    protocol.waiters.extend((w, INF) for w in waiters)
    for chunk in chunks:
        protocol.data_received(chunk)
    assert not protocol.waiters
    assert protocol.lost is None
    return [w.exception() if w.exception() is not None else w.result() for w in waiters]


def _check(results: list[object]) -> None:
    assert results[:3] == EXPECTED[:3]
    assert isinstance(results[3], RespError)
    assert results[4:] == EXPECTED[4:]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM)])
async def test_replies_split_at_any_byte_resolve_in_order(size: int) -> None:
    _check(await _resolved([STREAM[i : i + size] for i in range(0, len(STREAM), size)]))


async def test_large_reply_in_many_chunks() -> None:
    loop = asyncio.get_running_loop()
    protocol = _Protocol()
    waiter = loop.create_future()
    protocol.waiters.append((waiter, INF))
    value = bytes(range(256)) * 8192  # 2 MiB, with CR and LF bytes inside
    reply = b"*2\r\n$%d\r\n%s\r\n$-1\r\n" % (len(value), value)
    for i in range(0, len(reply), 1460):
        protocol.data_received(reply[i : i + 1460])
    assert waiter.result() == [value, None]


async def test_reply_of_an_abandoned_command_is_dropped_not_shifted() -> None:
    loop = asyncio.get_running_loop()
    protocol = _Protocol()
    abandoned, kept = loop.create_future(), loop.create_future()
    protocol.waiters.extend([(abandoned, INF), (kept, INF)])
    abandoned.cancel()  # the caller timed out
    protocol.data_received(b"$5\r\nfirst\r\n$6\r\nsecond\r\n")
    assert kept.result() == b"second"


async def test_unframeable_reply_fails_every_waiter() -> None:
    loop = asyncio.get_running_loop()
    protocol = _Protocol()
    waiters = [loop.create_future() for _ in range(3)]
    protocol.waiters.extend((w, INF) for w in waiters)
    protocol.data_received(b"$1\r\na\r\n!bogus\r\n")
    assert waiters[0].result() == b"a"
    for waiter in waiters[1:]:
        with pytest.raises(ConnectionError):
            waiter.result()
    assert protocol.lost is not None


async def test_reply_nobody_asked_for_closes_the_connection() -> None:
    protocol = _Protocol()
    protocol.data_received(b"+OK\r\n")
    assert protocol.lost is not None
    with pytest.raises(ConnectionError):
        protocol.send(b"PING")


async def test_connection_lost_fails_waiters() -> None:
    loop = asyncio.get_running_loop()
    protocol = _Protocol()
    waiter = loop.create_future()
    protocol.waiters.append((waiter, INF))
    protocol.connection_lost(None)
    with pytest.raises(ConnectionError):
        waiter.result()


async def test_deadline_timer_fails_only_overdue_waiters_and_their_replies_are_dropped() -> None:
    loop = asyncio.get_running_loop()
    protocol = _Protocol()
    overdue, patient = loop.create_future(), loop.create_future()
    protocol.waiters.extend([(overdue, loop.time() - 0.001), (patient, loop.time() + 60)])
    protocol._expire(loop)
    with pytest.raises(TimeoutError):
        overdue.result()
    assert not patient.done()
    protocol.data_received(b"$4\r\nlate\r\n$7\r\npatient\r\n")
    assert patient.result() == b"patient"
    protocol.connection_lost(None)  # cancels the re-armed timer
