"""Where keys live on a Redis Cluster / Valkey Cluster: hash slots, and the slot groups of the cache.

A cluster serves a multi-key command only when every key hashes to one slot, and a slot lives on one
master. A cache hit reads its entry, the namespace version and its tags' versions together; spread
at random, those keys would sit on up to three nodes. :class:`ClusterLayout` co-locates them:

* every tag belongs to a *family*, its text up to the second ``:`` (``t:users``, ``t:users:any`` and
  ``t:users:row=7`` are all family ``t:users``: a table with its fine tags); a family hashes to one
  of ``groups`` *slot groups*, and every version key of the family carries that group's hash tag;
* the namespace version is kept once per group (``clear()`` writes every copy, with one token);
* an entry is stored in the group of its *anchor*, the lowest group among its tags, next to the
  namespace copy it is validated against.

A hit on one table is then one ``MGET`` on one node; a hit on tables of several groups reads each
group's keys from its node, all nodes at once. Each group's hash tag is chosen so that the groups'
slots are evenly spaced over the 16384 slots: with masters owning contiguous slot ranges (what
``--cluster create`` and rebalancing produce) the groups, and so the tables, spread evenly.

Placement only decides where a key is stored: every hit still compares the versions read with the
entry's labels, so a placement that differs (another process, another layout) costs misses, never
a wrong value.
"""

from __future__ import annotations

import hashlib
from binascii import crc_hqx
from typing import Final

__all__ = ("SLOTS", "ClusterLayout", "key_slot")

SLOTS: Final = 16384
"""Hash slots of a Redis/Valkey cluster."""


def key_slot(key: bytes) -> int:
    """The cluster hash slot of ``key``: CRC16 (XMODEM) of its hash tag (the first non-empty ``{...}``) or of all of it."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc_hqx(key, 0) % SLOTS


def _spaced_tags(groups: int) -> tuple[str, ...]:
    """One hash tag per group, group ``g``'s slot in the ``g``-th of ``groups`` equal slot ranges (deterministic)."""
    found: list[str] = []
    for group in range(groups):
        low, high = group * SLOTS // groups, (group + 1) * SLOTS // groups
        index = 0
        while True:
            candidate = f"{group}.{index}"
            if low <= key_slot(candidate.encode()) < high:
                found.append("{" + candidate + "}")
                break
            index += 1
    return tuple(found)


class ClusterLayout:
    """The slot groups of a cache on a cluster (see *Redis Cluster and Valkey Cluster* in the cache guide).

    Every process sharing a cluster must use the same ``groups``: it is part of the key layout.

    Args:
        groups: slot groups (1-1024); more spread tables more evenly over the masters, and make a
            namespace ``clear()`` write more keys (one per group).

    Raises:
        ValueError: if ``groups`` is out of range.
    """

    __slots__ = ("_groups_of", "groups", "hash_tags")

    def __init__(self, groups: int = 64) -> None:
        if not 1 <= groups <= 1024:  # noqa: PLR2004
            msg = f"cluster layout groups must be between 1 and 1024, got {groups!r}"
            raise ValueError(msg)
        self.groups = groups
        self.hash_tags: tuple[str, ...] = _spaced_tags(groups)
        """The hash tag of each group, ``{...}``: appended to every key stored in that group."""
        self._groups_of: dict[str, int] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClusterLayout) and other.groups == self.groups

    def __hash__(self) -> int:
        return hash(self.groups)

    def __repr__(self) -> str:
        return f"ClusterLayout(groups={self.groups})"

    @staticmethod
    def family(tag: str) -> str:
        """The family of ``tag``: its text up to the second ``:`` (the whole tag if it has fewer)."""
        first = tag.find(":")
        if first < 0:
            return tag
        second = tag.find(":", first + 1)
        return tag if second < 0 else tag[:second]

    def group(self, tag: str) -> int:
        """The slot group of ``tag`` (its family's), memoized per family."""
        family = self.family(tag)
        found = self._groups_of.get(family)
        if found is None:
            hashed = hashlib.blake2b(family.encode("utf-8", "surrogatepass"), digest_size=8).digest()
            found = int.from_bytes(hashed, "big") % self.groups
            if len(self._groups_of) < 65536:  # noqa: PLR2004 - families are tables: few
                self._groups_of[family] = found
        return found

    def anchor(self, tags: list[str]) -> int:
        """The group an entry depending on ``tags`` is stored in: the lowest of theirs (0 without tags).

        Independent of the tags' order, so every process places an entry with the same tags alike.
        """
        return min((self.group(tag) for tag in tags), default=0)
