"""Turn commit failures of Advanced Alchemy's ``autocommit`` handler into ordinary, mappable exceptions.

AA commits in a ``before_send`` hook when ``http.response.start`` goes out, and that hook logs and
swallows a failing commit at debug level: the client gets the 2xx that was about to be sent while
the data is lost. Litestar cannot turn an exception raised from ``send`` into an error response
either, because the response counts as started by then. So this middleware, placed outermost in
the route's middleware stack, commits the same sessions at the same moment (the same status rules,
read from AA's handler) and, if the commit fails, lets the exception reach the app's exception
handlers, which send a problem response. AA's hook then sees an error status and rolls back.
"""

import inspect
import warnings
from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig, SQLAlchemySyncConfig
from advanced_alchemy.extensions.litestar._utils import get_aa_scope_state  # pyright: ignore[reportPrivateUsage]
from litestar.enums import ScopeType
from litestar.utils.scope.state import ScopeState

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ("AutocommitPolicy", "CommitBeforeResponseMiddleware", "autocommit_policies")


@dataclass(frozen=True)
class AutocommitPolicy:
    """When AA's autocommit handler for one session scope key commits."""

    session_scope_key: str
    commit_statuses: Container[int]
    extra_commit_statuses: Container[int]
    extra_rollback_statuses: Container[int]

    def commits(self, status: int) -> bool:
        """Whether AA's handler would commit for a response with ``status`` (its exact rule)."""
        return (
            status in self.commit_statuses or status in self.extra_commit_statuses
        ) and status not in self.extra_rollback_statuses


def _policy(handler: object, session_scope_key: str) -> AutocommitPolicy | None:
    """Read the policy out of a handler made by AA's ``autocommit_handler_maker`` (sync or async).

    AA keeps the policy in the handler's closure only; ``"autocommit"`` leaves nothing else to read it from.
    """
    module, name = getattr(handler, "__module__", None) or "", getattr(handler, "__qualname__", "")
    if not module.startswith("advanced_alchemy.") or name != "autocommit_handler_maker.<locals>.handler":
        return None
    code, closure = getattr(handler, "__code__", None), getattr(handler, "__closure__", None)
    names: tuple[str, ...] = getattr(code, "co_freevars", ())
    cells: dict[str, Any] = {name: cell.cell_contents for name, cell in zip(names, closure or (), strict=False)}
    try:
        return AutocommitPolicy(
            session_scope_key=cells.get("session_scope_key", session_scope_key),
            commit_statuses=cells["commit_range"],
            extra_commit_statuses=cells["extra_commit_statuses"],
            extra_rollback_statuses=cells["extra_rollback_statuses"],
        )
    except KeyError as missing:
        warnings.warn(
            f"cannot read advanced alchemy's autocommit handler for session scope key {session_scope_key!r} (no"
            f" {missing} in its closure: another advanced-alchemy version?); commit_before_response is off for it,"
            " so a failing commit there is dropped as advanced alchemy drops it",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def autocommit_policies(plugins: Iterable[object]) -> list[AutocommitPolicy]:
    """The autocommit policies of every AA config registered through ``plugins``."""
    policies: dict[str, AutocommitPolicy] = {}
    for plugin in plugins:
        configs: object = getattr(plugin, "config", None)
        candidates: list[object] = (
            list(cast("list[object]", configs)) if isinstance(configs, (list, tuple)) else [configs]
        )
        for config in candidates:
            if isinstance(config, (SQLAlchemyAsyncConfig, SQLAlchemySyncConfig)) and (
                policy := _policy(config.before_send_handler, config.session_scope_key)
            ):
                policies[policy.session_scope_key] = policy
    return list(policies.values())


class CommitBeforeResponseMiddleware:
    """Commit autocommit sessions before the response starts; a failure is raised as if the handler raised it."""

    def __init__(self, app: "ASGIApp", policies: "Iterable[AutocommitPolicy]") -> None:
        self.app = app
        self.policies = tuple(policies)

    async def __call__(self, scope: "Scope", receive: "Receive", send: "Send") -> None:
        """Run the app; a failed commit propagates to the exception handlers as if the route handler raised it."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        failures: list[Exception] = []
        started = False

        async def send_after_commit(message: "Message") -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                try:
                    await self._commit(scope, message["status"])
                except Exception as exc:
                    failures.append(exc)
                    raise
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_after_commit)
        except Exception:
            if not failures or started:
                raise
        else:
            # Also when something downstream swallowed the failure: the client must still get an answer.
            if not failures or started:
                return
        # Nothing went out: the start message never passed this point, so the outer exception
        # middleware may still answer. Litestar marked the response started before calling us.
        # Raised outside the except block so the commit error keeps its own cause and context.
        ScopeState.from_scope(scope).response_started = False
        raise failures[0]

    async def _commit(self, scope: "Scope", status: int) -> None:
        for policy in self.policies:
            session = get_aa_scope_state(scope, policy.session_scope_key)
            if session is not None and policy.commits(status):
                result = session.commit()
                if inspect.isawaitable(result):
                    await result
