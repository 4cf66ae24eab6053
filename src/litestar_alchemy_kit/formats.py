"""Every wire format the kit writes to a shared store, with its version, in one table.

Entries outlive deploys in a shared store, so a process must never read what another version of
the kit wrote in a different format. Each format here is versioned; :func:`format_token`
digests the whole table and is part of every entry key (see
:meth:`litestar_alchemy_kit.cache.keys.KeyBuilder.entry`). Changing any version therefore moves
every entry to new keys: old entries simply miss and expire, while tag versions and the namespace
version stay shared, so invalidations and ``clear()`` still reach processes of both versions
during a rolling deploy.

Bump a version here, and only here, whenever the bytes a format produces change.

It sits below every layer and imports nothing from the kit.
"""

from __future__ import annotations

import hashlib
from types import MappingProxyType
from typing import Final

__all__ = ("WIRE_FORMATS", "format_token", "wire_format")

WIRE_FORMATS: Final = MappingProxyType(
    {
        "canonical": 1,  # litestar_alchemy_kit.canonical: values in keys and fingerprints
        "cache-entry": 1,  # cache.codec: the entry envelope (value, labels, schema, namespace version)
        "entry-key": 1,  # cache.keys: how scope and fingerprint become a key
        "rows": 1,  # orm.codec: ORM rows and instances inside an entry
        "schema": 1,  # orm.schema: the model schema fingerprint
        # orm.statement: the statement fingerprint; 2: tables keyed by schema and name, tags by bare name (an
        # entry of version 1 depends on schema-qualified tags that writes no longer bump)
        "statement": 2,
    }
)
"""Format name -> version."""


def wire_format(name: str) -> str:
    """``"lak-{name}-v{version}"``, the label a module mixes into what it writes.

    Raises:
        KeyError: for a format the table does not list (every format must be listed).
    """
    return f"lak-{name}-v{WIRE_FORMATS[name]}"


def format_token() -> str:
    """A short digest of :data:`WIRE_FORMATS`: it changes when any version changes."""
    text = ";".join(f"{name}={version}" for name, version in sorted(WIRE_FORMATS.items()))
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()
