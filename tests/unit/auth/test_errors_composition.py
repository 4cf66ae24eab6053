"""Auth failures through the error contract (``litestar_alchemy_kit.errors``): RFC 9457 bodies, 401 vs 403."""

import pytest
from litestar.testing import TestClient

from litestar_alchemy_kit.errors import PROBLEM_MEDIA_TYPE, ErrorsPlugin
from tests.unit.auth._app import BACKENDS, credentials, issue, make_app, make_backend
from tests.unit.auth.test_jwt import INVALID_TOKENS


def assert_problem(response: object, status: int, code: str, path: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert body["code"] == code
    assert body["instance"] == path
    assert body["title"] in {"Unauthorized", "Forbidden"}


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("case", sorted(INVALID_TOKENS))
def test_invalid_tokens_are_401_problems(kind: str, case: str) -> None:
    token = INVALID_TOKENS[case]()
    with TestClient(make_app(make_backend(kind), plugins=(ErrorsPlugin(),))) as client:
        for path in ("/me", "/maybe"):
            response = client.get(path, **credentials(kind, token))
            assert_problem(response, 401, "unauthorized", path)
            assert token not in response.text


@pytest.mark.parametrize("kind", BACKENDS)
def test_guards_and_dependencies_are_problems(kind: str) -> None:
    backend = make_backend(kind)
    with TestClient(make_app(backend, plugins=(ErrorsPlugin(),))) as client:
        assert_problem(client.get("/me"), 401, "unauthorized", "/me")
        assert_problem(client.get("/maybe/user"), 401, "unauthorized", "/maybe/user")
        assert_problem(client.get("/maybe/tenant"), 401, "unauthorized", "/maybe/tenant")
        assert_problem(client.get("/admin"), 401, "unauthorized", "/admin")
        bob = credentials(kind, issue(backend, "bob"))
        assert_problem(client.get("/admin", **bob), 403, "forbidden", "/admin")
        assert_problem(client.get("/write", **bob), 403, "forbidden", "/write")
        assert_problem(client.get("/tenants/acme/ping", **bob), 403, "forbidden", "/tenants/acme/ping")
        # and the successes are untouched
        assert client.get("/tenants/globex/ping", **bob).text == "globex"
        assert client.get("/maybe").json() == {"anonymous": True, "user": None}
