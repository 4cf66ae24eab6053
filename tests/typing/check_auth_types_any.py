# pyright: strict
"""Negative control for ``check_auth_types``: every ``expect-error`` line must be reported.

If the checkers stopped seeing the user's type (``Any``), ``check_auth_types`` would keep
passing silently; this module proves they report exactly that degradation and a misuse.
"""

from typing import Any

from litestar.security.jwt import Token
from typing_extensions import assert_type

from litestar_alchemy_kit.auth import AuthContext


class User:
    name: str = "u"


def degraded(auth: AuthContext[Any, Any]) -> None:
    assert_type(auth.require_user(), User)  # expect-error: the user's type is Any here


def misused(auth: AuthContext[User, Token]) -> int:
    return auth.require_user()  # expect-error: a User is not an int
