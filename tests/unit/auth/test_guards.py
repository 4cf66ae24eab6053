"""Guards and dependencies: 401 without an identity, 403 without the right, never a 500."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.params import FromPath
from litestar.testing import TestClient

from litestar_alchemy_kit.auth import AuthConfig, AuthPlugin, same_tenant
from tests.unit.auth._app import BACKENDS, credentials, issue, make_app, make_backend


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_role_guard_401_anonymous_403_missing_200_granted(kind: str) -> None:
    backend = make_backend(kind)
    with TestClient(make_app(backend)) as client:
        assert client.get("/admin").status_code == 401
        assert client.get("/admin", **credentials(kind, issue(backend, "bob"))).status_code == 403
        assert client.get("/admin", **credentials(kind, issue(backend, "alice"))).text == "admin"
        # any-of: carol is an editor, not an admin
        assert client.get("/staff", **credentials(kind, issue(backend, "carol"))).text == "staff"
        assert client.get("/staff", **credentials(kind, issue(backend, "bob"))).status_code == 403


def test_all_of_guards_need_every_role_and_scope(kind: str) -> None:
    # has_role/has_scope with several values need all of them; one of them is a 403, not a pass.
    backend = make_backend(kind)
    with TestClient(make_app(backend)) as client:
        assert client.get("/admin-editor", **credentials(kind, issue(backend, "alice"))).status_code == 403
        assert client.get("/admin-editor", **credentials(kind, issue(backend, "carol"))).status_code == 403
        assert client.get("/admin-editor", **credentials(kind, issue(backend, "erin"))).text == "admin-editor"
        one = issue(backend, "bob", scopes=["items:write"])
        assert client.get("/read-write", **credentials(kind, one)).status_code == 403
        both = issue(backend, "bob", scopes=["items:read", "items:write"])
        assert client.get("/read-write", **credentials(kind, both)).text == "read-write"


def test_scope_guard(kind: str) -> None:
    backend = make_backend(kind)
    with TestClient(make_app(backend)) as client:
        assert client.get("/write").status_code == 401
        read_only = issue(backend, "alice", scope="items:read")
        assert client.get("/write", **credentials(kind, read_only)).status_code == 403
        as_list = issue(backend, "bob", scopes=["items:read", "items:write"])
        assert client.get("/write", **credentials(kind, as_list)).text == "write"


def test_same_tenant_guard(kind: str) -> None:
    backend = make_backend(kind)
    with TestClient(make_app(backend)) as client:
        alice = credentials(kind, issue(backend, "alice"))
        assert client.get("/tenants/acme/ping", **alice).text == "acme"
        mismatch = client.get("/tenants/globex/ping", **alice)
        assert mismatch.status_code == 403
        assert "tenant mismatch" in mismatch.text
        assert client.get("/tenants/acme/ping").status_code == 401


def test_user_dependency_on_anonymous_optional_route_is_401_not_500() -> None:
    backend = make_backend("jwt")
    with TestClient(make_app(backend)) as client:
        response = client.get("/maybe/user")
        assert response.status_code == 401
        assert "authentication required" in response.text
        ok = client.get("/maybe/user", **credentials("jwt", issue(backend, "carol")))
        assert ok.json() == {"user": "carol"}
        assert client.get("/maybe/guarded").status_code == 401
        assert client.get("/maybe/guarded", **credentials("jwt", issue(backend, "bob"))).json() == {"user": "bob"}


def test_tenant_dependencies() -> None:
    backend = make_backend("jwt")
    with TestClient(make_app(backend)) as client:
        assert client.get("/maybe/tenant").status_code == 401
        response = client.get("/maybe/tenant", **credentials("jwt", issue(backend, "bob")))
        assert response.json() == {"tenant": "globex", "scope": "tenant=globex;subject=*"}


@pytest.mark.parametrize("kind", BACKENDS)
def test_tenant_scope_on_optional_route_401_anonymous_403_no_tenant(kind: str) -> None:
    # Authenticating can help an anonymous caller (401); it cannot give dave a tenant (403).
    backend = make_backend(kind)
    with TestClient(make_app(backend)) as client:
        anonymous = client.get("/maybe/scoped")
        assert anonymous.status_code == 401, anonymous.text
        assert "authentication required" in anonymous.text
        no_tenant = client.get("/maybe/scoped", **credentials(kind, issue(backend, "dave")))
        assert no_tenant.status_code == 403, no_tenant.text
        assert "no tenant" in no_tenant.text
        assert client.get("/maybe/scoped", **credentials(kind, issue(backend, "bob"))).text == "globex"


def test_excluded_route_is_anonymous_even_with_a_credential() -> None:
    backend = make_backend("jwt")
    with TestClient(make_app(backend)) as client:
        assert client.get("/public").json() == {"anonymous": True, "scope": "tenant=*;subject=*;anonymous"}
        with_token = client.get("/public", **credentials("jwt", issue(backend, "alice")))
        assert with_token.json() == {"anonymous": True, "scope": "tenant=*;subject=*;anonymous"}


def test_router_level_optional_and_handler_override() -> None:
    backend = make_backend("jwt")
    with TestClient(make_app(backend)) as client:
        assert client.get("/optional-router/inner").json() == {"anonymous": True}
        token = credentials("jwt", issue(backend, "alice"))
        assert client.get("/optional-router/inner", **token).json() == {"anonymous": False}
        assert client.get("/optional-router/inner/strict").status_code == 401
        assert client.get("/optional-router/inner/strict", **token).json() == {"anonymous": False}


def test_app_level_optional() -> None:
    backend = make_backend("jwt")
    with TestClient(make_app(backend, opt={"auth": "optional"})) as client:
        assert client.get("/me").status_code == 401  # /me calls require_user()
        assert client.get("/optional-router/inner/strict").status_code == 401
        assert client.get("/optional-router/inner").json() == {"anonymous": True}
        assert client.get("/admin").status_code == 401
        assert client.get("/admin", **credentials("jwt", issue(backend, "bob"))).status_code == 403


TENANT_UUID = uuid.UUID("6f1c1d4e-8f5a-4c57-9d4e-2b7f3f0a9c11")
TYPED_USERS: dict[str, dict[str, Any]] = {
    "int7": {"tenant": 7},
    "uuid": {"tenant": TENANT_UUID},
    "acme": {"tenant": "acme"},
    "none": {"tenant": None},
}


class HeaderUserMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        user = TYPED_USERS.get(connection.headers.get("x-user", ""))
        if user is None:
            raise NotAuthorizedException("unknown user")
        return AuthenticationResult(user=user, auth=None)


@get("/int/{tenant_id:int}", guards=[same_tenant()])
async def int_tenant(tenant_id: FromPath[int]) -> int:
    return tenant_id


@get("/uuid/{tenant_id:uuid}", guards=[same_tenant()])
async def uuid_tenant(tenant_id: FromPath[uuid.UUID]) -> str:
    return str(tenant_id)


@get("/str/{tenant_id:str}", guards=[same_tenant()])
async def str_tenant(tenant_id: FromPath[str]) -> str:
    return tenant_id


@get("/other/{org:str}", guards=[same_tenant()])
async def misnamed(org: FromPath[str]) -> str:
    return org


@pytest.fixture
def typed_client() -> Iterator[TestClient[Litestar]]:
    config = AuthConfig[dict[str, Any], None](tenant_of=lambda user, _: user["tenant"])
    app = Litestar(
        [int_tenant, uuid_tenant, str_tenant, misnamed],
        middleware=[DefineMiddleware(HeaderUserMiddleware)],
        plugins=[AuthPlugin(config)],
        debug=True,
    )
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize(
    ("user", "path", "status"),
    [
        ("int7", "/int/7", 200),
        ("int7", "/int/007", 200),  # the handler sees 7: the same tenant
        ("int7", "/int/8", 403),
        ("int7", "/str/7", 200),
        ("int7", "/str/07", 403),  # as a string, "07" is another tenant
        ("uuid", f"/uuid/{TENANT_UUID}", 200),
        ("uuid", f"/uuid/{str(TENANT_UUID).upper()}", 200),  # one UUID, two spellings
        ("uuid", f"/uuid/{uuid.UUID(int=TENANT_UUID.int + 1)}", 403),
        ("uuid", f"/str/{str(TENANT_UUID).upper()}", 403),  # str ids are compared exactly
        ("acme", "/str/acme", 200),
        ("acme", "/str/ACME", 403),
        ("acme", "/str/acme%20", 403),
        ("none", "/str/None", 403),  # no tenant never matches, not even the text "None"
    ],
)
def test_same_tenant_compares_converted_values_and_fails_closed(
    typed_client: TestClient[Litestar], user: str, path: str, status: int
) -> None:
    response = typed_client.get(path, headers={"x-user": user})
    assert response.status_code == status, response.text
    if status == 403:
        assert "tenant" in response.text


def test_same_tenant_without_the_path_parameter_is_a_configuration_error(typed_client: TestClient[Litestar]) -> None:
    response = typed_client.get("/other/acme", headers={"x-user": "acme"})
    assert response.status_code == 500
    assert "no parameter 'tenant_id'" in response.text
