"""Schemathesis over an app's own OpenAPI document: no server errors, no status or code the document leaves out.

``assert_conformance(app)`` takes any Litestar app, so other apps (the demo) can be checked the same way. Bounded
and repeatable: a few examples per operation and mode, derandomized, no example database.
"""

from collections.abc import Mapping
from typing import Any

import hypothesis
import hypothesis.errors
import msgspec
import schemathesis
from hypothesis import HealthCheck, Phase
from litestar import Litestar
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import status_code_conformance

__all__ = ("assert_conformance",)


def assert_conformance(
    app: Litestar,
    *,
    max_examples: int = 10,
    headers: Mapping[str, str] | None = None,
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
) -> int:
    """Fuzz every operation of ``app`` and fail listing each server error and undocumented status; returns the
    number of requests sent."""
    # Read from the app rather than fetched: the schema route may itself sit behind authentication.
    schema = schemathesis.openapi.from_dict(msgspec.json.decode(msgspec.json.encode(app.openapi_schema.to_schema())))
    schema.app = app
    failures: list[str] = []
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:
            strategy = operation.as_strategy(generation_mode=mode)

            @hypothesis.settings(
                max_examples=max_examples,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                report_multiple_bugs=False,
            )
            @hypothesis.given(case=strategy)
            def run(case: Any) -> None:
                nonlocal sent
                sent += 1
                response = case.call(headers=dict(headers or {}))
                case.validate_response(response, checks=[not_a_server_error, status_code_conformance])

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                continue  # negative mode on an operation without inputs: nothing invalid to send
            except BaseException as exc:  # the first failing example of this operation and mode (a FailureGroup)
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    return sent
