"""``lookup``: the entry and the current versions of its tags in one round trip; reads record their tags."""

from __future__ import annotations

from collections.abc import Mapping

from litestar_alchemy_kit.cache import MISS, AsyncCache, AsyncMemoryBackend, CacheOptions, record_tags


class _WritesFail(AsyncMemoryBackend):
    """Reads work, tag bumps fail: a bump stays undelivered."""

    async def set_many(self, items: Mapping[str, bytes]) -> None:
        msg = "store refuses writes"
        raise ConnectionError(msg)


async def test_lookup_returns_the_entry_its_versions_and_foreign_labels() -> None:
    cache = AsyncCache(AsyncMemoryBackend(), namespace="lookup")
    key = cache.key("resp", "k")
    empty = await cache.lookup(key, ["t:a"])
    assert (empty.value, empty.versions, empty.labels) == (MISS, None, None)  # no version yet: nothing to label with
    versions = await cache.versions(["t:a"])
    assert versions is not None
    assert await cache.set(key, "body", versions)
    found = await cache.lookup(key, ["t:a"])
    assert found.value == "body"
    assert found.versions == versions
    assert found.labels is None
    other = await cache.lookup(key, ["t:a", "t:b"])
    assert other.value is MISS
    assert other.labels == ("t:a",)  # stored under other tags: the caller may look again with these
    await cache.bump(["t:a"])
    after = await cache.lookup(key, ["t:a"])
    assert after.value is MISS
    assert after.versions is not None
    assert after.versions != versions


async def test_lookup_serves_nothing_and_labels_nothing_under_an_undelivered_bump() -> None:
    backend = _WritesFail()
    cache = AsyncCache(backend, namespace="lookup", options=CacheOptions(retry_initial=60))
    key = cache.key("resp", "k")
    versions = await cache.versions(["t:a"])
    assert await cache.set(key, "body", versions)
    assert (await cache.lookup(key, ["t:a"])).value == "body"
    assert not await cache.bump(["t:a"])  # undelivered: other processes still see the old version
    blocked = await cache.lookup(key, ["t:a"])
    assert (blocked.value, blocked.versions) == (MISS, None)
    await cache.close()


async def test_reads_record_their_tags_in_the_current_context_only() -> None:
    cache = AsyncCache(AsyncMemoryBackend(), namespace="lookup")
    key = cache.key("resp", "k")
    with record_tags() as recorder:
        await cache.lookup(key, ["t:a"])
        await cache.get(key, ["t:b"])
        await cache.versions(["t:c"])
    await cache.get(key, ["t:outside"])
    assert recorder.tags == {"t:a", "t:b", "t:c"}
    assert recorder.refused is None
    recorder.refuse("first")
    recorder.refuse("second")
    assert recorder.refused == "first"


async def test_per_row_tag_sets_beyond_the_plan_memo_read_every_tag() -> None:
    """More (shared tags + one row tag) sets than the plan memo holds: each read still checks all its tags.

    The plan of such a set reuses the memoized plan of its shared tags; a set whose last tag repeats
    an earlier one is deduplicated as any other.
    """
    cache = AsyncCache(AsyncMemoryBackend(), namespace="rows")
    rows = 2000  # the plan memo holds 1024 tag sets
    tag_sets = [("t:all", "t:any", f"t:row={index}") for index in range(rows)]
    for index, tags in enumerate(tag_sets):
        versions = await cache.versions(tags)
        assert versions is not None
        assert await cache.set(cache.key("get", str(index)), index, versions)
    assert [await cache.get(cache.key("get", str(index)), tags) for index, tags in enumerate(tag_sets)] == list(
        range(rows)
    )
    await cache.bump(["t:row=7"])
    assert await cache.get(cache.key("get", "7"), tag_sets[7]) is MISS
    assert await cache.get(cache.key("get", "8"), tag_sets[8]) == 8
    await cache.bump(["t:any"])
    assert await cache.get(cache.key("get", "8"), tag_sets[8]) is MISS
    repeated = ("t:x", "t:y", "t:x")  # the last tag repeats: one version read per distinct tag
    versions = await cache.versions(repeated)
    assert versions is not None
    assert await cache.set(cache.key("get", "r"), "r", versions)
    assert await cache.get(cache.key("get", "r"), ("t:x", "t:y")) == "r"
    await cache.bump(["t:x"])
    assert await cache.get(cache.key("get", "r"), repeated) is MISS


async def test_a_row_tag_is_checked_with_its_entry_and_memoized_nowhere() -> None:
    """``get(..., row_tag=)``: the entry depends on its shared tags and its own row tag, however many rows."""
    cache = AsyncCache(AsyncMemoryBackend(), namespace="rowtag")
    shared = ("t:all", "t:any")
    rows = 2000  # more than the plan and tag-key memos hold
    for index in range(rows):
        versions = await cache.versions((*shared, f"t:row={index}"))
        assert versions is not None
        assert await cache.set(cache.key("get", str(index)), index, versions)
    got = [await cache.get(cache.key("get", str(index)), shared, row_tag=f"t:row={index}") for index in range(rows)]
    assert got == list(range(rows))
    await cache.bump(["t:row=7"])
    assert await cache.get(cache.key("get", "7"), shared, row_tag="t:row=7") is MISS
    assert await cache.get(cache.key("get", "8"), shared, row_tag="t:row=8") == 8
    assert await cache.get(cache.key("get", "8"), shared, row_tag="t:row=9") is MISS, "another row's tag"
    await cache.bump(["t:any"])
    assert await cache.get(cache.key("get", "8"), shared, row_tag="t:row=8") is MISS
    versions = await cache.versions(shared)
    assert versions is not None
    assert await cache.set(cache.key("get", "s"), "s", versions)
    assert await cache.get(cache.key("get", "s"), shared, row_tag="t:any") == "s", (
        "a row tag among the tags counts once"
    )


async def test_read_labels_a_miss_with_the_versions_of_its_round_trip() -> None:
    """``read``: a miss carries the versions ``versions()`` gives (absent ones initialised as it does); a hit, a
    marked or pending tag none; ``get`` (``observe=False``) initialises nothing."""
    cache = AsyncCache(AsyncMemoryBackend(), namespace="read")
    key = cache.key("row", "k")
    assert await cache.get(key, ["t:a"]) is MISS
    assert await cache.read(key, ["t:a"], observe=False) == (MISS, None)
    assert await cache.read(key, ["t:b"]) == (MISS, await cache.versions(["t:b"]))
    first, versions = await cache.read(key, ["t:a"])  # no version yet: initialised by the read
    assert first is MISS
    assert versions is not None
    assert versions == await cache.versions(["t:a"]), "the versions the next read finds: never a second token"
    assert await cache.read(key, ["t:a"]) == (MISS, versions)
    value, with_row = await cache.read(key, ["t:a"], row_tag="t:a:row=1")  # the row tag has no version yet
    assert value is MISS
    assert with_row is not None
    assert with_row == await cache.versions(["t:a", "t:a:row=1"])
    assert with_row.tags["t:a"] == versions.tags["t:a"]
    assert await cache.read(key, ["t:a"], row_tag="t:a:row=1") == (MISS, with_row)
    assert await cache.set(key, "body", versions)
    assert await cache.read(key, ["t:a"]) == ("body", None)
    await cache.bump(["t:a"])
    value, after = await cache.read(key, ["t:a"])
    assert value is MISS
    assert after == await cache.versions(["t:a"])
    assert after != versions
    marker = await cache.mark(["t:a"])
    assert await cache.read(key, ["t:a"]) == (MISS, None)  # a commit in flight: nothing to label with
    await cache.bump(["t:a"], marker=marker)
    failing = AsyncCache(_WritesFail(), namespace="read")
    assert await failing.versions(["t:a"]) is not None
    assert not await failing.bump(["t:a"])
    assert await failing.read(key, ["t:a"]) == (MISS, None)  # an undelivered bump: no label
    await failing.close()
