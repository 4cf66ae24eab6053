"""Real JWT flows through Litestar's JWTAuth, JWTCookieAuth and OAuth2PasswordBearerAuth."""

from datetime import datetime, timedelta, timezone

import pytest
from litestar.testing import TestClient

from tests.unit.auth._app import BACKENDS, alg_none, credentials, forge, issue, make_app, make_backend

pytestmark = pytest.mark.parametrize("kind", BACKENDS)

NOW = datetime.now(timezone.utc)

INVALID_TOKENS = {
    "expired": lambda: forge(exp=datetime.now(timezone.utc) - timedelta(seconds=30)),
    "wrong_signature": lambda: forge(secret="another-secret-0123456789abcdef0123456"),
    "alg_none": alg_none,
    "wrong_audience": lambda: forge(aud="someone-else"),
    "wrong_issuer": lambda: forge(iss="evil-issuer"),
    "not_before_future": lambda: forge(nbf=datetime.now(timezone.utc) + timedelta(hours=1)),
    "unknown_user": lambda: forge(sub="mallory"),
    "malformed": lambda: "not-a-jwt",
    "malformed_segments": lambda: "a.b.c",
    "truncated": lambda: forge()[:-5],
}


def test_valid_token_gives_full_context(kind: str) -> None:
    backend = make_backend(kind)
    with TestClient(make_app(backend)) as client:
        token = issue(backend, "alice", scope="items:read items:write")
        response = client.get("/me", **credentials(kind, token))
        assert response.status_code == 200, response.text
        assert response.json() == {
            "user": "alice",
            "tenant": "acme",
            "roles": ["admin"],
            "scopes": ["items:read", "items:write"],
            "subject": "alice",
            "scope": "tenant=acme;subject=*",
        }


@pytest.mark.parametrize("case", sorted(INVALID_TOKENS))
def test_invalid_token_is_401_on_required_and_optional_routes(kind: str, case: str) -> None:
    backend = make_backend(kind)
    token = INVALID_TOKENS[case]()
    with TestClient(make_app(backend)) as client:
        for path in ("/me", "/maybe"):
            response = client.get(path, **credentials(kind, token))
            assert response.status_code == 401, (path, response.text)
            assert "alice" not in response.text


def test_missing_token_is_401_on_required_route(kind: str) -> None:
    with TestClient(make_app(make_backend(kind))) as client:
        assert client.get("/me").status_code == 401


def test_empty_bearer_is_an_invalid_credential_not_anonymous(kind: str) -> None:
    with TestClient(make_app(make_backend(kind))) as client:
        # The header is present: a credential was sent, and it is broken (not "no credential").
        response = client.get("/maybe", headers={"Authorization": "Bearer "})
        assert response.status_code == 401


def test_optional_route_answers_anonymous_authenticated_and_invalid(kind: str) -> None:
    backend = make_backend(kind)
    with TestClient(make_app(backend)) as client:
        anonymous = client.get("/maybe")
        assert anonymous.status_code == 200
        assert anonymous.json() == {"anonymous": True, "user": None}

        authenticated = client.get("/maybe", **credentials(kind, issue(backend, "bob")))
        assert authenticated.status_code == 200
        assert authenticated.json() == {"anonymous": False, "user": "bob"}

        invalid = client.get("/maybe", **credentials(kind, forge(secret="x" * 40)))
        assert invalid.status_code == 401


def test_header_credential_counts_on_cookie_backends(kind: str) -> None:
    backend = make_backend(kind)
    with TestClient(make_app(backend)) as client:
        good = client.get("/maybe", headers={"Authorization": f"Bearer {issue(backend, 'bob')}"})
        assert good.json() == {"anonymous": False, "user": "bob"}
        bad = client.get("/maybe", headers={"Authorization": f"Bearer {alg_none()}"})
        assert bad.status_code == 401
