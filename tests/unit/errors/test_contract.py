"""Each mapping, through a real Litestar app: the full RFC 9457 body and the headers that must survive."""

import logging
import re
import traceback
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import msgspec
import pytest
from advanced_alchemy.exceptions import (
    DuplicateKeyError,
    ForeignKeyError,
    IntegrityError,
    MultipleResultsFoundError,
    NotFoundError,
    RepositoryError,
)
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from litestar import Litestar, Request, Response, get, post
from litestar.config.app import AppConfig
from litestar.di import NamedDependency, Provide
from litestar.dto import DataclassDTO
from litestar.exceptions import (
    HTTPException,
    InternalServerException,
    NotAuthorizedException,
    PermissionDeniedException,
    ServiceUnavailableException,
    TooManyRequestsException,
)
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import JSONBody
from litestar.static_files import create_static_files_router
from litestar.testing import TestClient
from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError

from litestar_alchemy_kit.errors import ErrorsConfig, ErrorsPlugin, ProblemType

SECRET = "password=hunter2 SELECT * FROM secret_table"
KEYS = {"type", "title", "status", "detail", "instance", "code", "trace_id"}


class Item(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    quantity: int


class PaymentDeclinedError(Exception):
    pass


class CardExpiredError(PaymentDeclinedError):
    pass


def _aa_wrapped(database_error: BaseException) -> IntegrityError:
    """AA's IntegrityError raised from a SQLAlchemy error, as AA's wrap_sqlalchemy_exception does."""
    try:
        try:
            raise database_error
        except Exception as inner:
            raise IntegrityError(SECRET) from inner
    except IntegrityError as exc:
        return exc


def _raiser(path: str, exc: BaseException) -> Any:
    @get(path, name=path, sync_to_thread=False)
    def handler() -> None:
        raise exc

    return handler


@post("/items", sync_to_thread=False)
def create_item(data: JSONBody[Item]) -> Item:
    return data


ROUTES = [
    _raiser("/aa/not-found", NotFoundError(SECRET)),
    _raiser("/aa/duplicate", DuplicateKeyError(SECRET)),
    _raiser("/aa/foreign-key", ForeignKeyError(SECRET)),
    _raiser("/aa/integrity", IntegrityError(SECRET)),
    # A database integrity error that no SQLSTATE, error number or message rule names is still a conflict.
    _raiser(
        "/aa/integrity-unclassified",
        _aa_wrapped(DatabaseIntegrityError(SECRET, {}, Exception("an integrity failure no rule names"))),
    ),
    _raiser("/aa/multiple", MultipleResultsFoundError(SECRET)),
    _raiser("/aa/repository", RepositoryError(SECRET)),
    _raiser("/auth", NotAuthorizedException(headers={"WWW-Authenticate": 'Bearer realm="api"'})),
    _raiser("/forbidden", PermissionDeniedException("you may not do that")),
    _raiser("/limited", TooManyRequestsException(headers={"Retry-After": "30"})),
    _raiser("/teapot", HTTPException(status_code=418, detail="short and stout")),
    _raiser("/unavailable", ServiceUnavailableException("down for maintenance")),
    _raiser("/internal-http", InternalServerException(SECRET)),
    _raiser("/boom", RuntimeError(SECRET)),
    _raiser("/pay", CardExpiredError("the card expired")),
    create_item,
]


def make_app(config: ErrorsConfig | None = None, **kwargs: Any) -> Litestar:
    return Litestar(route_handlers=ROUTES, plugins=[ErrorsPlugin(config)], **kwargs)


@pytest.fixture
def client() -> Iterator[TestClient[Litestar]]:
    with TestClient(make_app()) as client:
        yield client


# path, status, code, detail, headers that must be kept
CASES = [
    ("/aa/not-found", 404, "not_found", "The requested resource was not found.", {}),
    ("/aa/duplicate", 409, "conflict.duplicate", "A resource with the same unique value exists.", {}),
    (
        "/aa/foreign-key",
        409,
        "conflict.foreign_key",
        "The change refers to, or is referred to by, another resource.",
        {},
    ),
    ("/aa/integrity", 409, "conflict.integrity", "The change conflicts with existing data.", {}),
    ("/aa/integrity-unclassified", 409, "conflict.integrity", "The change conflicts with existing data.", {}),
    ("/aa/multiple", 500, "repository_error", "The request could not be completed.", {}),
    ("/aa/repository", 500, "repository_error", "The request could not be completed.", {}),
    ("/auth", 401, "unauthorized", "Unauthorized", {"www-authenticate": 'Bearer realm="api"'}),
    ("/forbidden", 403, "forbidden", "you may not do that", {}),
    ("/limited", 429, "rate_limited", "Too Many Requests", {"retry-after": "30"}),
    ("/teapot", 418, "im_a_teapot", "short and stout", {}),
    ("/unavailable", 503, "service_unavailable", "down for maintenance", {}),
    ("/internal-http", 500, "internal_error", "An unexpected error occurred.", {}),
    ("/boom", 500, "internal_error", "An unexpected error occurred.", {}),
    ("/nowhere", 404, "not_found", "Not Found", {}),
]


def assert_problem(response: Any, status: int, code: str, detail: str, instance: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= KEYS, body
    assert body["type"] == "about:blank"
    assert (body["status"], body["code"], body["detail"], body["instance"]) == (status, code, detail, instance)
    assert body["title"] == HTTPStatus(status).phrase  # RFC 9457 4.2.1, for about:blank
    assert re.fullmatch(r"[0-9a-f]{32}", body["trace_id"])
    assert "hunter2" not in response.text
    assert "secret_table" not in response.text
    return body


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_mapping(client: TestClient[Litestar], case: tuple[str, int, str, str, dict[str, str]]) -> None:
    path, status, code, detail, headers = case
    body = assert_problem(client.get(path), status, code, detail, path)
    assert body.keys() == KEYS
    response = client.get(path)
    for name, value in headers.items():
        assert response.headers[name] == value


def test_method_not_allowed_keeps_allow(client: TestClient[Litestar]) -> None:
    response = client.delete("/auth")
    body = assert_problem(response, 405, "method_not_allowed", "Method Not Allowed", "/auth")
    assert body["title"] == "Method Not Allowed"
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "OPTIONS"}


def test_validation_lists_field_errors(client: TestClient[Litestar]) -> None:
    response = client.post("/items", json={"name": 5, "quantity": 1})
    body = assert_problem(response, 400, "validation", "Validation failed for POST /items", "/items")
    assert body["errors"] == [{"message": "Expected `str`, got `int`", "source": "body", "field": "name"}]
    unknown = client.post("/items", json={"name": "a", "quantity": 1, "extra": True}).json()
    assert unknown["code"] == "validation"
    assert unknown["errors"][0]["source"] == "body"
    assert "extra" in unknown["errors"][0]["message"]


def test_real_rate_limit_keeps_its_headers() -> None:
    limit = RateLimitConfig(rate_limit=("minute", 1))
    with TestClient(make_app(middleware=[limit.middleware])) as client:
        assert client.post("/items", json={"name": "a", "quantity": 1}).status_code == 201
        response = client.post("/items", json={"name": "a", "quantity": 1})
    assert_problem(response, 429, "rate_limited", "Too Many Requests", "/items")
    assert response.headers["ratelimit-limit"] == "1"
    assert response.headers["ratelimit-remaining"] == "0"
    assert int(response.headers["ratelimit-reset"]) > 0


def test_debug_mode_keeps_the_contract_and_adds_the_exception() -> None:
    with TestClient(make_app(debug=True)) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    body = response.json()
    assert body.keys() == {*KEYS, "exception"}
    assert (body["code"], body["detail"]) == ("internal_error", "An unexpected error occurred.")
    assert body["exception"]["type"] == "builtins.RuntimeError"
    assert body["exception"]["message"] == SECRET
    assert any("raise exc" in line for line in body["exception"]["traceback"])


def test_type_base_uri_and_titles() -> None:
    config = ErrorsConfig(type_base_uri="https://errors.example.com/problems/")
    with TestClient(make_app(config)) as client:
        body = client.get("/aa/duplicate").json()
    assert body["type"] == "https://errors.example.com/problems/conflict.duplicate"
    assert body["title"] == "Duplicate resource"


def test_instance_builder_and_request_id_header() -> None:
    config = ErrorsConfig(
        instance_builder=lambda request: f"urn:req:{request.headers['x-correlation']}",
        request_id_header="x-correlation",
    )
    with TestClient(make_app(config)) as client:
        body = client.get("/forbidden", headers={"x-correlation": "abc-123"}).json()
        hostile = client.get("/forbidden", headers={"x-correlation": "<script>" * 40}).json()
    assert (body["instance"], body["trace_id"]) == ("urn:req:abc-123", "abc-123")
    assert re.fullmatch(r"[0-9a-f]{32}", hostile["trace_id"])


def _records(app: Litestar, *paths: str, headers: dict[str, str] | None = None) -> tuple[list[Any], list[Any]]:
    """The bodies of GET ``paths`` and the records the errors logger wrote meanwhile."""
    # Litestar's logging config replaces the root handlers (and so pytest's caplog): listen on the logger itself.
    records: list[logging.LogRecord] = []
    listener = logging.Handler()
    listener.emit = records.append  # type: ignore[method-assign,assignment]
    logger = logging.getLogger("litestar_alchemy_kit.errors")
    logger.addHandler(listener)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        with TestClient(app) as client:
            bodies = [client.get(path, headers=headers).json() for path in paths]
    finally:
        logger.removeHandler(listener)
        logger.setLevel(level)
    return bodies, records


def test_a_server_error_is_logged_with_its_traceback_and_the_active_spans_trace_id() -> None:
    trace_id = 0x0AF7651916CD43DD8448EB211C80319C
    span = NonRecordingSpan(
        SpanContext(trace_id=trace_id, span_id=0xB7AD6B7169203331, is_remote=False, trace_flags=TraceFlags(1))
    )

    def tracing(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            with trace.use_span(span):
                await app(scope, receive, send)

        return middleware

    [body], [record] = _records(make_app(middleware=[tracing]), "/boom", headers={"x-request-id": "ignored"})
    assert body["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert record.trace_id == body["trace_id"]
    assert body["trace_id"] in record.getMessage()
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert SECRET in "".join(traceback.format_exception(*record.exc_info))  # the full error stays on the server


def test_without_a_span_the_server_error_is_logged_with_the_problems_trace_id() -> None:
    [body], [record] = _records(make_app(), "/aa/repository")
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert f"trace_id={body['trace_id']}" in record.getMessage()


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG, logging.WARNING])
def test_a_client_error_is_one_line_at_the_configured_level(level: int) -> None:
    paths = ("/aa/duplicate", "/aa/not-found", "/forbidden", "/nowhere")
    bodies, records = _records(make_app(ErrorsConfig(client_error_log_level=level)), *paths)
    assert [record.levelno for record in records] == [level] * len(paths)
    assert [record.exc_info for record in records] == [None] * len(paths)  # no traceback
    for record, body, path in zip(records, bodies, paths, strict=True):
        message = record.getMessage()
        assert "\n" not in message
        assert message.startswith(f"GET {path} -> {body['status']} {body['code']} (")
        assert f"trace_id={body['trace_id']}" in message
        assert SECRET not in message


def test_registry_maps_user_exceptions_and_subclasses() -> None:
    declined = ProblemType(402, "payment.declined", "Payment declined", expose_message=True)
    gone = ProblemType(410, "widget.gone", "Gone for good")
    config = ErrorsConfig(
        exception_problems={PaymentDeclinedError: declined, NotFoundError: gone}, type_base_uri="https://e.x/"
    )
    with TestClient(make_app(config)) as client:
        paid = client.get("/pay").json()
        missing = client.get("/aa/not-found").json()
    assert (paid["status"], paid["code"], paid["title"], paid["detail"], paid["type"]) == (
        402,
        "payment.declined",
        "Payment declined",
        "the card expired",
        "https://e.x/payment.declined",
    )
    assert (missing["status"], missing["code"], missing["detail"]) == (410, "widget.gone", "Gone for good")


def test_explicit_user_handlers_win() -> None:
    def mine(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
        return Response({"mine": type(exc).__name__}, status_code=599)

    config = ErrorsConfig(
        exception_problems={PaymentDeclinedError: ProblemType(402, "payment.declined", "Payment declined")}
    )
    app = make_app(config, exception_handlers={PaymentDeclinedError: mine, 500: mine, 403: mine})
    with TestClient(app) as client:
        assert client.get("/pay").json() == {"mine": "CardExpiredError"}
        assert client.get("/boom").json() == {"mine": "RuntimeError"}
        assert client.get("/forbidden").json() == {"mine": "PermissionDeniedException"}
        assert client.get("/aa/not-found").json()["code"] == "not_found"


@pytest.mark.parametrize("errors_first", [True, False])
def test_replaces_advanced_alchemys_default_handler_in_any_plugin_order(errors_first: bool) -> None:
    aa = SQLAlchemyPlugin(config=SQLAlchemyAsyncConfig(connection_string="sqlite+aiosqlite://", create_all=False))
    plugins = [ErrorsPlugin(), aa] if errors_first else [aa, ErrorsPlugin()]
    with TestClient(Litestar(route_handlers=ROUTES, plugins=plugins)) as client:
        assert_problem(
            client.get("/aa/duplicate"),
            409,
            "conflict.duplicate",
            "A resource with the same unique value exists.",
            "/aa/duplicate",
        )


def test_user_repository_error_handler_is_kept() -> None:
    def mine(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
        return Response("mine", status_code=418)

    config = AppConfig(route_handlers=ROUTES, exception_handlers={RepositoryError: mine})
    app = Litestar(**{**config.__dict__, "plugins": [ErrorsPlugin()]})
    with TestClient(app) as client:
        assert client.get("/aa/not-found").status_code == 418


def test_config_rejects_bad_registry_entries() -> None:
    with pytest.raises(TypeError, match="must be exception classes"):
        ErrorsConfig(exception_problems={"PaymentDeclinedError": ProblemType(402, "x", "y")})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="must be a ProblemType"):
        ErrorsConfig(exception_problems={PaymentDeclinedError: (402, "x")})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="not an error status"):
        ProblemType(200, "ok", "OK")
    # The code is the last segment of the type URI: only characters a URI path segment takes as they are.
    for code in ("", "payment declined", "a/b", "é"):
        with pytest.raises(ValueError, match="code"):
            ProblemType(402, code, "Payment declined")


def test_a_user_500_handler_leaves_http_errors_on_the_contract() -> None:
    """Litestar sends HTTP errors without a handler of their own to its default handler, not to the 500 handler."""

    def mine(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
        return Response({"mine": type(exc).__name__}, status_code=500)

    with TestClient(make_app(exception_handlers={500: mine})) as client:
        assert client.get("/boom").json() == {"mine": "RuntimeError"}
        assert_problem(client.get("/teapot"), 418, "im_a_teapot", "short and stout", "/teapot")
        assert_problem(client.get("/nowhere"), 404, "not_found", "Not Found", "/nowhere")
        validation = client.post("/items", json={"name": 5, "quantity": 1})
        assert_problem(validation, 400, "validation", "Validation failed for POST /items", "/items")


def test_every_type_has_one_title() -> None:
    """RFC 9457: the title summarises the problem type, so one ``type`` URI never comes with two titles."""
    with TestClient(make_app(ErrorsConfig(type_base_uri="https://e.x/"))) as client:
        bodies = [client.get(path).json() for path, *_ in CASES]
    titles: dict[str, set[str]] = {}
    for body in bodies:
        titles.setdefault(body["type"], set()).add(body["title"])
    assert {type_: found for type_, found in titles.items() if len(found) > 1} == {}
    assert titles["https://e.x/not_found"] == {"Resource not found"}


def test_a_mapped_http_exception_keeps_its_headers() -> None:
    config = ErrorsConfig(
        exception_problems={
            NotAuthorizedException: ProblemType(401, "auth.required", "Authentication required", "Sign in first."),
            TooManyRequestsException: ProblemType(429, "quota", "Quota exceeded"),
        }
    )
    with TestClient(make_app(config)) as client:
        auth, limited = client.get("/auth"), client.get("/limited")
    assert_problem(auth, 401, "auth.required", "Sign in first.", "/auth")
    assert auth.headers["www-authenticate"] == 'Bearer realm="api"'
    assert_problem(limited, 429, "quota", "Too Many Requests", "/limited")
    assert limited.headers["retry-after"] == "30"


def test_config_rejects_one_code_with_two_meanings() -> None:
    with pytest.raises(ValueError, match=r"code 'payment\.declined'"):
        ErrorsConfig(
            exception_problems={
                PaymentDeclinedError: ProblemType(402, "payment.declined", "Payment declined"),
                CardExpiredError: ProblemType(402, "payment.declined", "Card expired"),
            }
        )
    with pytest.raises(ValueError, match="code 'not_found'"):
        ErrorsConfig(exception_problems={PaymentDeclinedError: ProblemType(410, "not_found", "Gone")})
    with pytest.raises(ValueError, match="code 'forbidden'"):  # Litestar's 403s already use it
        ErrorsConfig(exception_problems={PaymentDeclinedError: ProblemType(403, "forbidden", "No access")})
    # The same meaning again is fine.
    ErrorsConfig(exception_problems={PaymentDeclinedError: ProblemType(403, "forbidden", "Forbidden")})


def test_static_file_errors_do_not_reveal_server_paths(tmp_path: Path) -> None:
    """Litestar's static files 404 names the resolved path on the server's disk; the contract must not."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "hello.txt").write_text("hi")
    static = create_static_files_router("/static", directories=[tmp_path])
    with TestClient(Litestar([static], plugins=[ErrorsPlugin()])) as client:
        assert client.get("/static/hello.txt").text == "hi"
        responses = [client.get("/static/docs"), client.get("/static/missing.txt")]
    for response in responses:
        body = assert_problem(response, 404, "not_found", "Resource not found", response.url.path)
        assert str(tmp_path) not in response.text, body


class UnprintableError(NotFoundError):
    def __str__(self) -> str:
        raise RuntimeError(SECRET)


@pytest.mark.parametrize("debug", [False, True])
def test_an_unprintable_exception_still_gets_the_contract(debug: bool) -> None:
    app = Litestar([_raiser("/odd", UnprintableError())], plugins=[ErrorsPlugin()], debug=debug)
    with TestClient(app) as client:
        body = assert_problem(client.get("/odd"), 404, "not_found", "The requested resource was not found.", "/odd")
    assert body.keys() == ({*KEYS, "exception"} if debug else KEYS)
    if debug:
        assert body["exception"]["message"] == "<unprintable UnprintableError>"


def test_a_failing_instance_builder_is_logged_and_answered_with_the_contract() -> None:
    def instance(request: Request[Any, Any, Any]) -> str:
        raise ValueError(SECRET)

    records: list[logging.LogRecord] = []
    listener = logging.Handler()
    listener.emit = records.append  # type: ignore[method-assign,assignment]
    logger = logging.getLogger("litestar_alchemy_kit.errors")
    logger.addHandler(listener)
    try:
        with TestClient(make_app(ErrorsConfig(instance_builder=instance))) as client:
            response = client.get("/forbidden", headers={"x-request-id": "req-1"})
    finally:
        logger.removeHandler(listener)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "An unexpected error occurred.",
        "instance": "/forbidden",
        "code": "internal_error",
        "trace_id": "req-1",
    }
    failures = [record for record in records if record.exc_info and record.exc_info[0] is ValueError]
    assert [record.trace_id for record in failures] == ["req-1"]  # type: ignore[attr-defined]


def test_dto_decoding_errors_are_validation_errors_with_the_field() -> None:
    """DTOs decode bodies with msgspec; Litestar reports its errors as a bare ClientException."""

    @dataclass
    class Line:
        quantity: int

    @dataclass
    class Order:
        name: str
        lines: list[Line]

    @post("/orders", dto=DataclassDTO[Order], signature_namespace={"Order": Order}, sync_to_thread=False)
    def create_order(data: JSONBody[Order]) -> None:
        return None

    with TestClient(Litestar([create_order], plugins=[ErrorsPlugin()])) as client:
        wrong = client.post("/orders", json={"name": "a", "lines": [{"quantity": "many"}]})
        broken = client.post("/orders", content=b'{"name": ', headers={"content-type": "application/json"})
    body = assert_problem(wrong, 400, "validation", "Expected `int`, got `str` - at `$.lines[0].quantity`", "/orders")
    assert body["errors"] == [{"message": "Expected `int`, got `str`", "source": "body", "field": "lines[0].quantity"}]
    assert broken.json()["code"] == "bad_request"  # not JSON at all: no field to point at
    assert "errors" not in broken.json()


def test_pydantic_validation_errors_are_listed() -> None:
    """Litestar's PydanticDTO reports pydantic's own error dicts (``loc``/``msg``), not ``key``/``message``."""
    pydantic = pytest.importorskip("pydantic")
    from litestar.plugins.pydantic import PydanticDTO

    class Order(pydantic.BaseModel):  # type: ignore[misc,name-defined]
        name: str
        quantity: int

        @pydantic.field_validator("quantity")  # type: ignore[untyped-decorator]
        @classmethod
        def positive(cls, value: int) -> int:
            if value <= 0:
                raise ValueError("must be positive")
            return value

    @post("/orders", dto=PydanticDTO[Order], signature_namespace={"Order": Order}, sync_to_thread=False)
    def create_order(data: JSONBody[Order]) -> None:
        return None

    with TestClient(Litestar([create_order], plugins=[ErrorsPlugin()])) as client:
        response = client.post("/orders", json={"name": SECRET, "quantity": -1})
    body = assert_problem(response, 400, "validation", "Bad Request", "/orders")
    # Litestar does not say where pydantic's errors come from, so no source is claimed.
    assert body["errors"] == [{"message": "Value error, must be positive", "field": "quantity"}]


async def _failing_dependency() -> int:
    raise RuntimeError(SECRET)


async def _failing_cleanup() -> AsyncGenerator[int, None]:
    yield 1
    raise RuntimeError(SECRET)


def _failing_guard(connection: Any, handler: Any) -> None:
    raise RuntimeError(SECRET)


def _failing_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError(SECRET)

    return middleware


@get("/guarded", guards=[_failing_guard], sync_to_thread=False)
def guarded() -> None:
    return None


@get("/dependency", dependencies={"value": Provide(_failing_dependency)}, sync_to_thread=False)
def with_dependency(value: NamedDependency[int]) -> None:
    return None


@get("/cleanup", dependencies={"value": Provide(_failing_cleanup)}, sync_to_thread=False)
def with_cleanup(value: NamedDependency[int]) -> dict[str, int]:
    return {"value": value}


@get("/unserializable", sync_to_thread=False)
def unserializable() -> dict[str, object]:
    return {"value": object()}


@pytest.mark.parametrize("path", ["/guarded", "/dependency", "/cleanup", "/unserializable", "/middleware"])
def test_failures_around_the_handler_get_the_contract(path: str) -> None:
    routes = [guarded, with_dependency, with_cleanup, unserializable]
    app = Litestar(routes, plugins=[ErrorsPlugin()])
    if path == "/middleware":
        app = Litestar([guarded], plugins=[ErrorsPlugin()], middleware=[_failing_middleware])
        path = "/guarded"
    with TestClient(app) as client:
        assert_problem(client.get(path), 500, "internal_error", "An unexpected error occurred.", path)


@dataclass
class Address:
    city: str


@dataclass
class Customer:
    name: str
    address: Address


@post("/customers", sync_to_thread=False)
def create_customer(data: JSONBody[Customer]) -> None:
    return None


@post("/customers-dto", dto=DataclassDTO[Customer], signature_namespace={"Customer": Customer}, sync_to_thread=False)
def create_customer_dto(data: JSONBody[Customer]) -> None:
    return None


@pytest.mark.parametrize("path", ["/customers", "/customers-dto"])
def test_validation_names_the_field_the_client_got_wrong(path: str) -> None:
    json = {"content-type": "application/json"}
    with TestClient(Litestar([create_customer, create_customer_dto], plugins=[ErrorsPlugin()])) as client:
        no_body = client.post(path, headers=json)
        missing = client.post(path, json={"address": {"city": "Oslo"}})
        nested = client.post(path, json={"name": "a", "address": {}})
    assert no_body.status_code == missing.status_code == nested.status_code == 400
    # Not Litestar's name for the body ('data'): there is no body, so no field.
    assert no_body.json()["errors"] == [{"message": "The request body is missing.", "source": "body"}]
    [error] = missing.json()["errors"]
    assert (error["field"], error["source"]) == ("name", "body")
    [error] = nested.json()["errors"]
    assert error["field"] == "address.city"


@post("/anything", sync_to_thread=False)
def accept_anything(data: JSONBody[Any]) -> None:
    return None


@get("/cyclic", sync_to_thread=False)
def cyclic() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


def test_a_too_deeply_nested_body_is_a_bad_request_logged_as_one_line() -> None:
    path = "/anything"  # typed bodies fail validation at the first level instead of recursing
    records: list[logging.LogRecord] = []
    listener = logging.Handler()
    listener.emit = records.append  # type: ignore[method-assign,assignment]
    logger = logging.getLogger("litestar_alchemy_kit.errors")
    logger.addHandler(listener)
    app = Litestar([accept_anything, create_item, create_customer_dto, cyclic], plugins=[ErrorsPlugin()])
    try:
        with TestClient(app) as client:
            deep = client.post(path, content="[" * 50_000 + "]" * 50_000, headers={"content-type": "application/json"})
            deep_object = client.post(path, content='{"a":' * 50_000 + "1" + "}" * 50_000)
            cycle = client.get("/cyclic")
    finally:
        logger.removeHandler(listener)
    for response in (deep, deep_object):
        assert_problem(response, 400, "bad_request", "The request body is nested too deeply.", path)
    # Recursion anywhere else (here: encoding a cyclic response) is still the server's bug.
    assert cycle.status_code == 500
    assert [(r.levelno, r.exc_info is None) for r in records] == [(logging.INFO, True)] * 2 + [(logging.ERROR, False)]
