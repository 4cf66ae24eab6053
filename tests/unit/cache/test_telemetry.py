"""Telemetry with the OpenTelemetry SDK installed: spans get/set/bump and counters for every outcome.

OpenTelemetry's global providers can be set once per process, so the scenario runs in a fresh
interpreter and reports what the SDK's in-memory exporter and metric reader collected.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("opentelemetry.sdk", reason="install the test group (opentelemetry-sdk)")

SCENARIO = r"""
import asyncio, json
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from litestar.stores.memory import MemoryStore
from litestar_alchemy_kit.cache import MISS, AsyncCache, CacheLimits, CacheOptions

spans = InMemorySpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(tracer_provider)
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))


async def main():
    store = MemoryStore()
    cache = AsyncCache(store, namespace="otel", options=CacheOptions(stale_ttl=30))
    quiet = AsyncCache(store, namespace="quiet", options=CacheOptions(telemetry=False))
    key = cache.key("row", "q")
    with trace.get_tracer("test").start_as_current_span("request"):
        assert await cache.get(key, ["t"]) is MISS                      # miss
        assert await cache.set(key, "v", await cache.versions(["t"]))   # set
        assert await cache.get(key, ["t"]) == "v"                       # hit
        assert await cache.bump(["t", "u"])                             # bump
    cache.record_bypass()                                               # bypass
    big = CacheLimits(max_entry_bytes=64)
    assert not await cache.set(cache.key("row", "big"), "x" * 100, await cache.versions(["t"]), limits=big)  # too_large
    await store.set(key, b"\x00garbage")
    assert await cache.get(key, ["t"]) is MISS                          # error (and miss)
    # stale-while-revalidate: an expired entry served while a refresh runs
    gate, loading = asyncio.Event(), asyncio.Event()
    calls = 0
    async def loader():
        nonlocal calls
        calls += 1
        if calls > 1:
            loading.set()
            await gate.wait()
        return calls
    assert await cache.get_or_load(key, ["t"], loader, ttl=0.05) == 1
    await asyncio.sleep(0.1)
    refresh = asyncio.create_task(cache.get_or_load(key, ["t"], loader, ttl=0.05))
    await loading.wait()                                                # the refresh is running
    assert await cache.get_or_load(key, ["t"], loader, ttl=0.05) == 1   # stale_served
    gate.set()
    assert await refresh == 2
    await quiet.get(quiet.key("row", "q"), ["t"])                       # telemetry off: nothing exported
    return dict(cache.stats), dict(quiet.stats), dict(cache.bypass_reasons)

stats, quiet_stats, reasons = asyncio.run(main())
counters = {}
by_reason = {}
for resource in reader.get_metrics_data().resource_metrics:
    for scope in resource.scope_metrics:
        for metric in scope.metrics:
            for point in metric.data.data_points:
                name = f"{scope.scope.name}|{metric.name}|{point.attributes['cache.namespace']}"
                counters[name] = counters.get(name, 0) + point.value
                reason = point.attributes.get("cache.bypass.reason")
                if reason is not None:
                    by_reason[reason] = point.value
print(json.dumps({
    "spans": [
        {"name": s.name, "attributes": dict(s.attributes), "parent": s.parent.span_id if s.parent else None,
         "request": s.context.span_id if s.name == "request" else None}
        for s in spans.get_finished_spans()
    ],
    "counters": counters,
    "stats": stats,
    "quiet_stats": quiet_stats,
    "reasons": reasons,
    "by_reason": by_reason,
}))
"""


@pytest.fixture(scope="module")
def scenario() -> dict[str, object]:
    result = subprocess.run([sys.executable, "-c", SCENARIO], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def test_spans_and_counters_reach_the_sdk(scenario: dict[str, object]) -> None:
    data = scenario
    spans: list[dict[str, object]] = data["spans"]  # type: ignore[assignment]
    names = [span["name"] for span in spans]
    for name in ("cache.get", "cache.set", "cache.bump"):
        assert name in names
    request = next(span["request"] for span in spans if span["name"] == "request")
    first_get = next(span for span in spans if span["name"] == "cache.get")
    assert first_get["parent"] == request  # spans join the caller's trace
    bump = next(span for span in spans if span["name"] == "cache.bump")
    assert bump["attributes"] == {"cache.namespace": "otel", "cache.tags": 2}
    assert all(span["attributes"].get("cache.namespace") == "otel" for span in spans if span["name"] != "request")  # type: ignore[attr-defined]

    counters: dict[str, int] = data["counters"]  # type: ignore[assignment]
    stats: dict[str, int] = data["stats"]  # type: ignore[assignment]
    exported = {
        name.split("|")[1].removeprefix("cache."): value
        for name, value in counters.items()
        if name.startswith("litestar_alchemy_kit.cache|") and name.endswith("|otel")
    }
    assert exported == {outcome: count for outcome, count in stats.items() if count}
    assert {"hit", "miss", "bypass", "error", "stale_served"} <= set(exported)
    assert exported["stale_served"] == 1
    assert exported["error"] >= 1
    assert exported["bypass"] >= 1


def test_bypasses_are_exported_with_their_reason(scenario: dict[str, object]) -> None:
    reasons: dict[str, int] = scenario["reasons"]  # type: ignore[assignment]
    assert reasons == {"too_large": 1}  # record_bypass() without a reason is counted in stats only
    assert scenario["by_reason"] == {"too_large": 1}


def test_a_cache_with_telemetry_off_exports_nothing(scenario: dict[str, object]) -> None:
    data = scenario
    counters: dict[str, int] = data["counters"]  # type: ignore[assignment]
    quiet_stats: dict[str, int] = data["quiet_stats"]  # type: ignore[assignment]
    assert quiet_stats["miss"] == 1  # counted in process ...
    assert not [name for name in counters if name.endswith("|quiet")]  # ... not exported
