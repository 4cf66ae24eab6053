"""Response cache outcomes in OpenTelemetry: hits, misses, 304s, stores and bypasses with their reason, per route.

OpenTelemetry's global providers can be set once per process, so the scenario runs in a fresh
interpreter and reports what the SDK's in-memory metric reader collected.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("opentelemetry.sdk", reason="install the test group (opentelemetry-sdk)")

SCENARIO = r"""
import json
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from litestar import Litestar, Response, get
from litestar.datastructures import Cookie
from litestar.testing import TestClient
from litestar_alchemy_kit.response_cache import ResponseCachePlugin, ResponseCacheRule

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

@get("/page", opt={"response_cache": ResponseCacheRule(scope="public")})
async def page() -> str:
    return "page"

@get("/cookie", opt={"response_cache": ResponseCacheRule(scope="public")})
async def cookie() -> Response[str]:
    return Response("c", cookies=[Cookie(key="k", value="v")])

with TestClient(Litestar([page, cookie], plugins=[ResponseCachePlugin()])) as client:
    stored = client.get("/page")                                         # miss, stored
    client.get("/page")                                                  # hit
    client.get("/page", headers={"if-none-match": stored.headers["etag"]})  # 304
    client.get("/cookie")                                                # miss, bypass: cookie
    client.post("/page")                                                 # 405 before any cache

out = []
for resource in reader.get_metrics_data().resource_metrics:
    for scope in resource.scope_metrics:
        for metric in scope.metrics:
            for point in metric.data.data_points:
                out.append([metric.name, dict(point.attributes), point.value])
print(json.dumps(out))
"""


def test_outcomes_are_counted_per_route_with_the_bypass_reason() -> None:
    result = subprocess.run([sys.executable, "-c", SCENARIO], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    points = json.loads(result.stdout.strip().splitlines()[-1])
    counted = {
        (name, attributes.get("http.route"), attributes.get("cache.bypass.reason")): value
        for name, attributes, value in points
        if name.startswith("response_cache.")
    }
    assert counted == {
        ("response_cache.miss", "/page", None): 1,
        ("response_cache.stored", "/page", None): 1,
        ("response_cache.hit", "/page", None): 1,
        ("response_cache.not_modified", "/page", None): 1,
        ("response_cache.miss", "/cookie", None): 1,
        ("response_cache.bypass", "/cookie", "sets a cookie"): 1,
    }
    assert all(attributes["cache.namespace"] == "lak" for _, attributes, _ in points)
