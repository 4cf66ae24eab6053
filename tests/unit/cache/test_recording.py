"""TagRecorder: which versions may label what a context produced (invariant 3, no stale sets)."""

from litestar.stores.memory import MemoryStore

from litestar_alchemy_kit.cache import AsyncCache, TagRecorder, TagVersions, record_tags

CACHE = object()
OTHER = object()


def test_a_version_read_before_the_context_ran_labels_first() -> None:
    recorder = TagRecorder(CACHE)
    recorder.observe(TagVersions("n", {"t:a": "v2"}), CACHE)
    assert recorder.labels({"t:a": "v1"}) == {"t:a": "v1"}


def test_the_first_observed_version_labels_and_a_later_one_never_replaces_it() -> None:
    recorder = TagRecorder(CACHE)
    recorder.observe(TagVersions("n", {"t:a": "v1", "t:a:row=i1": "r1"}), CACHE)
    recorder.observe(TagVersions("n", {"t:a": "v2"}), CACHE)  # a commit in between: the label stays v1, stale at once
    assert recorder.labels({}) == {"t:a": "v1", "t:a:row=i1": "r1"}


def test_a_bare_read_before_an_observation_leaves_the_tag_without_a_label() -> None:
    recorder = TagRecorder(CACHE)
    recorder.add(["t:a"])  # a query read the table before any version of it was read
    recorder.observe(TagVersions("n", {"t:a": "v1", "t:b": "w1"}), CACHE)
    assert recorder.labels({}) is None
    assert recorder.labels({"t:a": "v0"}) == {"t:a": "v0", "t:b": "w1"}


def test_a_bare_read_after_an_observation_keeps_the_label() -> None:
    recorder = TagRecorder(CACHE)
    recorder.observe(TagVersions("n", {"t:a": "v1"}), CACHE)
    recorder.add(["t:a"])
    assert recorder.labels({}) == {"t:a": "v1"}


def test_versions_of_another_cache_count_as_bare() -> None:
    recorder = TagRecorder(CACHE)
    recorder.observe(TagVersions("n", {"t:a": "v1"}), OTHER)
    recorder.observe(TagVersions("n", {"t:a": "v2"}), CACHE)
    assert recorder.labels({}) is None
    assert recorder.tags == {"t:a"}


def test_a_needed_tag_without_any_version_has_no_label_and_extra_tags_need_one_too() -> None:
    recorder = TagRecorder(CACHE)
    recorder.need(["t:a"])
    assert recorder.labels({}) is None
    recorder.observe(TagVersions("n", {"t:a": "v1"}), CACHE)
    assert recorder.labels({}) == {"t:a": "v1"}
    assert recorder.labels({}, ["manual"]) is None
    assert recorder.labels({"manual": "m"}, ["manual"]) == {"t:a": "v1", "manual": "m"}


async def test_the_cache_reports_the_versions_its_reads_observed() -> None:
    cache = AsyncCache(MemoryStore(), namespace="lakrec")
    other = AsyncCache(MemoryStore(), namespace="lakrec")
    with record_tags(cache) as recorder:
        versions = await cache.versions(["t:a"])
        assert versions is not None
        await cache.set("k", 1, versions)
        await other.versions(["t:b"])
    assert recorder.labels({}) is None  # t:b: another cache's version
    assert recorder.labels({"t:b": "x"}) == {"t:a": versions.tags["t:a"], "t:b": "x"}
    with record_tags(cache) as recorder:
        assert await cache.get("k", ["t:a"]) == 1  # a hit observes the versions its entry is valid under
    assert recorder.labels({}) == {"t:a": versions.tags["t:a"]}
    await cache.bump(["t:a"])
    with record_tags(cache) as recorder:
        found = await cache.lookup("k", ["t:a"])
    assert recorder.labels({}) == {"t:a": found.versions.tags["t:a"]} != {"t:a": versions.tags["t:a"]}
    await cache.close()
    await other.close()
