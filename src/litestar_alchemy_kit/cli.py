"""``litestar cache ...``: inspect, clear, invalidate and audit the app's cache from the command line.

Registered by :class:`~litestar_alchemy_kit.plugin.AlchemyKitPlugin` (``on_cli_init``). The commands
use the app's own cache (its store and namespace), built without starting the app.
"""

import asyncio
import sys
from collections.abc import Sequence
from typing import Any

import click
from litestar import Litestar
from litestar.cli._utils import LitestarGroup  # the documented base of groups extending the Litestar CLI
from sqlalchemy import MetaData, Table

from litestar_alchemy_kit.cache import AsyncCache
from litestar_alchemy_kit.cache.plugin import CachePlugin
from litestar_alchemy_kit.orm.audit import audit_statement_cache
from litestar_alchemy_kit.orm.dependencies import table_tag
from litestar_alchemy_kit.providers.lookup import alchemy_configs

__all__ = ("cache_group",)


def _cache(app: Litestar) -> AsyncCache:
    plugin = next((plugin for plugin in app.plugins.init if isinstance(plugin, CachePlugin)), None)
    if plugin is None:
        msg = "the app has no cache: register AlchemyKitPlugin or CachePlugin"
        raise click.ClickException(msg)
    return plugin.cache_for(app)


def _metadatas(app: Litestar) -> list[MetaData]:
    found: list[MetaData] = []
    for config in alchemy_configs(app):
        metadata: Any = config.metadata
        if isinstance(metadata, MetaData) and all(metadata is not seen for seen in found):
            found.append(metadata)
    return found


def _tables(app: Litestar) -> dict[str, Table]:
    tables: dict[str, Table] = {}
    for metadata in _metadatas(app):
        for table in metadata.sorted_tables:
            tables.setdefault(table.fullname, table)
            tables.setdefault(table.name, table)
    return tables


@click.group(cls=LitestarGroup, name="cache")
def cache_group() -> None:
    """Inspect and invalidate the app's cache, and audit its models."""


@cache_group.command(name="stats")  # type: ignore[untyped-decorator]  # LitestarGroup.command is unannotated
def stats(app: Litestar) -> None:
    """Show where the cache lives and this process's counters."""
    cache = _cache(app)
    plugin = next(plugin for plugin in app.plugins.init if isinstance(plugin, CachePlugin))
    store = app.stores.get(plugin.config.store)
    click.echo(f"namespace: {cache.namespace}")
    click.echo(f"store: {plugin.config.store} ({type(store).__name__})")
    click.echo(f"backend: {type(cache.backend).__name__}")
    click.echo(f"breaker: {'open' if cache.breaker_open else 'closed'}")
    click.echo(f"undelivered invalidations: {len(cache.pending_tags)}")
    # Counters are kept per process: a CLI process shows its own, not the servers'.
    for name, value in sorted(cache.stats.items()):
        click.echo(f"{name}: {value}")


@cache_group.command(name="clear")  # type: ignore[untyped-decorator]  # LitestarGroup.command is unannotated
def clear(app: Litestar) -> None:
    """Invalidate every entry of the app's namespace, in every process sharing the store."""
    cache = _cache(app)
    if not asyncio.run(cache.clear()):
        msg = f"the store did not confirm clearing namespace {cache.namespace!r}; retry when it is reachable"
        raise click.ClickException(msg)
    click.echo(f"cleared namespace {cache.namespace!r}")


@cache_group.command(name="bump")  # type: ignore[untyped-decorator]  # LitestarGroup.command is unannotated
@click.argument("tables", nargs=-1, required=True)
def bump(app: Litestar, tables: Sequence[str]) -> None:
    """Invalidate every entry that depends on any of TABLES (e.g. after writing them outside the app)."""
    known = _tables(app)
    unknown = [name for name in tables if name not in known]
    if unknown:
        choices = ", ".join(sorted({table.fullname for table in known.values()})) or "none"
        msg = f"unknown table(s): {', '.join(unknown)} (the app's tables: {choices})"
        raise click.BadParameter(msg, param_hint="TABLES")
    cache = _cache(app)
    tags = sorted({table_tag(known[name]) for name in tables})
    if not asyncio.run(cache.bump(tags)):
        msg = "the store did not confirm the invalidation; retry when it is reachable"
        raise click.ClickException(msg)
    click.echo(f"invalidated {', '.join(tables)}")


@cache_group.command(name="audit")  # type: ignore[untyped-decorator]  # LitestarGroup.command is unannotated
@click.option(
    "--ignore",
    "ignored",
    multiple=True,
    metavar="MODULE:QUALNAME",
    help="A type you have reviewed and accept, e.g. advanced_alchemy.types.guid:GUID (repeatable).",
)
def audit(app: Litestar, ignored: Sequence[str]) -> None:
    """Audit the app's models for column types that make cached statements unsafe; exits 1 on a finding."""
    metadatas = _metadatas(app)
    findings = [finding for finding in audit_statement_cache(metadatas) if finding.type_name not in set(ignored)]
    tables = sum(len(metadata.tables) for metadata in metadatas)
    for finding in findings:
        click.echo(str(finding), err=True)
    if findings:
        click.echo(f"{len(findings)} problem(s) in {tables} table(s)", err=True)
        sys.exit(1)
    click.echo(f"no problems in {tables} table(s)")
