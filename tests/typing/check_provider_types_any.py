# pyright: strict
"""Negative control for ``check_provider_types``: every ``expect-error`` line must be reported.

If providers degraded to ``Any`` services, ``check_provider_types`` would still pass where it only
reads attributes; this module proves the checkers report the degradation and a misuse.
"""

from collections.abc import AsyncGenerator, Callable
from typing import Any

from typing_extensions import assert_type

from litestar_alchemy_kit.providers import AsyncServiceContext, create_service_provider
from tests.integration.providers.models import NoteService, TopicService


def degraded(context: AsyncServiceContext, service_type: type[Any]) -> None:
    assert_type(context.service(service_type), NoteService)  # expect-error: the service's type is Any here


def misused() -> Callable[..., AsyncGenerator[TopicService, None]]:
    return create_service_provider(NoteService, scope="tenant")  # expect-error: a NoteService is not a TopicService
