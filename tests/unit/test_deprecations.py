"""Renamed names keep working for one release, with a DeprecationWarning that says what to use."""

from __future__ import annotations

import importlib
import sys

import pytest

import litestar_alchemy_kit
import litestar_alchemy_kit.cache
import litestar_alchemy_kit.cache.plugin
from litestar_alchemy_kit.cache import CachePluginConfig


@pytest.mark.parametrize(
    "module", [litestar_alchemy_kit, litestar_alchemy_kit.cache, litestar_alchemy_kit.cache.plugin]
)
def test_cache_config_is_a_deprecated_alias_of_cache_plugin_config(module: object) -> None:
    with pytest.warns(
        DeprecationWarning, match=r"CacheConfig is deprecated and will be removed in 0\.3: use CachePluginConfig"
    ):
        alias = module.CacheConfig  # type: ignore[attr-defined]
    assert alias is CachePluginConfig


def test_unknown_names_still_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'CacheConfgi'"):
        _ = litestar_alchemy_kit.CacheConfgi  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("old", "match"),
    [
        ("litestar_alchemy_kit.cache.backends.sync", r"cache\.backends\.sync is deprecated"),
        ("litestar_alchemy_kit.audit", r"litestar_alchemy_kit\.audit is deprecated"),
    ],
)
def test_moved_modules_warn_on_import_and_still_work(old: str, match: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=match):
        module = importlib.import_module(old)
    assert callable(getattr(module, module.__all__[-1]))
    assert module.__deprecated__  # what keeps it out of the API reference, imported or not
