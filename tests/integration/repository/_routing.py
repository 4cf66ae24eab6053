"""Bind groups as Advanced Alchemy routes them, for the shortcut scenarios (shared by async and sync).

AA's routing sessions pick the engine in ``get_bind()`` from the statement's ``bind_group``
execution option (``advanced_alchemy.routing.RoutingSyncSession``); this session does the same
with a fixed group -> engine map, so a test can put a second, different database behind a group.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session


def routed_session_class(groups: dict[str, Engine]) -> type[Session]:
    """A ``Session`` class sending statements with ``bind_group=<name>`` to ``groups[name]``."""

    class GroupRoutedSession(Session):
        def get_bind(self, mapper: Any = None, clause: Any = None, **kwargs: Any) -> Any:
            options = getattr(clause, "_execution_options", None) or {}
            group = options.get("bind_group")
            if group is not None:
                return groups[group]
            return super().get_bind(mapper, clause=clause, **kwargs)

    return GroupRoutedSession
