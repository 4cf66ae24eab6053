"""The plugin: registers the problem details exception handler, the commit guard and the OpenAPI responses."""

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, cast

from advanced_alchemy.exceptions import RepositoryError
from advanced_alchemy.extensions.litestar.exception_handler import exception_to_http_response
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.plugins import InitPlugin, ReceiveRoutePlugin

from litestar_alchemy_kit.errors.commit import CommitBeforeResponseMiddleware, autocommit_policies
from litestar_alchemy_kit.errors.config import ErrorsConfig
from litestar_alchemy_kit.errors.handlers import create_exception_handler
from litestar_alchemy_kit.errors.openapi import document_route

if TYPE_CHECKING:
    from litestar.config.app import AppConfig
    from litestar.routes.base import BaseRoute

__all__ = ("ErrorsPlugin",)


class ErrorsPlugin(InitPlugin, ReceiveRoutePlugin):
    """Every error response as RFC 9457 problem details with a stable ``code``.

    Handlers you register on the app yourself (by exception class or status code) keep precedence.
    """

    __slots__ = ("config",)

    def __init__(self, config: ErrorsConfig | None = None) -> None:
        self.config = config or ErrorsConfig()

    def on_app_init(self, app_config: "AppConfig") -> "AppConfig":
        """Register the exception handler without replacing any the user registered."""
        handler = create_exception_handler(self.config)
        handlers = cast("MutableMapping[int | type[Exception], object]", app_config.exception_handlers)  # pyright: ignore[reportUnknownMemberType]
        # Only AA's default RepositoryError handler is ours to replace; AA skips adding it if we were first.
        if handlers.get(RepositoryError) is exception_to_http_response:
            del handlers[RepositoryError]
        # HTTPException is always ours: Litestar looks up status-code handlers first, so a user's handler for a
        # status keeps winning, and without this entry a user's 500 handler would leave HTTP errors to Litestar's
        # default handler.
        owned: list[type[Exception]] = [RepositoryError, HTTPException, *self.config.exception_problems]
        # A user's 500 handler is Litestar's fallback for non-HTTP exceptions: an Exception handler would shadow it.
        if 500 not in handlers:  # noqa: PLR2004
            owned.append(Exception)
        for exc_type in owned:
            handlers.setdefault(exc_type, handler)
        if self.config.commit_before_response and (policies := autocommit_policies(app_config.plugins)):
            app_config.middleware.insert(0, DefineMiddleware(CommitBeforeResponseMiddleware, policies=policies))
        return app_config

    def receive_route(self, route: "BaseRoute") -> None:
        """Document problem responses on the route's operations."""
        if self.config.document_responses:
            document_route(route, self.config.exception_problems)
