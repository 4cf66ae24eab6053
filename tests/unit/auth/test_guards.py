"""Guards and dependencies: 401 without an identity, 403 without the right, never a 500."""

import pytest
from litestar.testing import TestClient

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


def test_excluded_route_is_anonymous_even_with_a_credential() -> None:
    backend = make_backend("jwt")
    with TestClient(make_app(backend)) as client:
        assert client.get("/public").json() == {"anonymous": True, "scope": "tenant=*;subject=*"}
        with_token = client.get("/public", **credentials("jwt", issue(backend, "alice")))
        assert with_token.json() == {"anonymous": True, "scope": "tenant=*;subject=*"}


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
