"""AuthContext and TenantScope values."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from sqlalchemy import Column, MetaData, String, Table

from litestar_alchemy_kit.auth import AuthConfig, AuthContext, TenantScope
from litestar_alchemy_kit.canonical import canonical_text

optional_text = st.none() | st.text()


def test_anonymous_context() -> None:
    anonymous = AuthContext[str, str].anonymous()
    assert anonymous.is_anonymous
    assert not anonymous.is_authenticated
    assert anonymous == AuthContext()
    assert anonymous.scope == TenantScope(anonymous=True)
    assert anonymous.user_scope == TenantScope(anonymous=True)
    with pytest.raises(NotAuthorizedException, match="authentication required"):
        anonymous.require_user()
    with pytest.raises(NotAuthorizedException):
        anonymous.require_tenant()


def test_context_is_immutable() -> None:
    context = AuthContext(user="u", roles=frozenset({"a"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.user = "v"  # type: ignore[misc]
    assert isinstance(context.roles, frozenset)


def test_authenticated_without_tenant_is_403_not_401() -> None:
    context = AuthContext(user="u")
    assert context.require_user() == "u"
    with pytest.raises(PermissionDeniedException, match="no tenant"):
        context.require_tenant()


def test_role_and_scope_checks() -> None:
    context = AuthContext(user="u", roles=frozenset({"a", "b"}), scopes=frozenset({"read"}))
    assert context.has_roles("a", "b")
    assert not context.has_roles("a", "c")
    assert context.has_any_role("c", "b")
    assert not context.has_any_role("c")
    assert context.has_scopes("read")
    assert not context.has_scopes("read", "write")
    assert context.has_any_scope("write", "read")


def test_config_builds_context_with_str_tenant_and_subject() -> None:
    config = AuthConfig[dict[str, object], None](
        tenant_of=lambda user, _: user["tenant"],
        subject_of=lambda user, _: user["id"],
        roles_of=lambda user, _: ["x", "x", "y"],
    )
    context = config.build_context({"tenant": 7, "id": 42}, None)
    assert context.tenant_id == "7"
    assert context.subject == "42"
    assert context.roles == frozenset({"x", "y"})
    assert context.scopes == frozenset()
    assert config.build_context(None, None) == AuthContext.anonymous()


@given(optional_text, optional_text, st.booleans(), optional_text, optional_text, st.booleans())
def test_scope_string_form_is_injective(  # noqa: PLR0917
    t1: str | None, s1: str | None, a1: bool, t2: str | None, s2: str | None, a2: bool
) -> None:
    a, b = TenantScope(t1, s1, a1), TenantScope(t2, s2, a2)
    assert (str(a) == str(b)) == (a == b)
    assert (hash(a) == hash(b)) or a != b


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (TenantScope("a;subject=b"), TenantScope("a", "b")),
        (TenantScope("*"), TenantScope(None)),
        (TenantScope(""), TenantScope(None)),
        (TenantScope("a", ""), TenantScope("a")),
        (TenantScope("%2A"), TenantScope("*")),
        (TenantScope(anonymous=True), TenantScope()),
        (TenantScope("a", "b;anonymous"), TenantScope("a", "b", anonymous=True)),
    ],
)
def test_adversarial_scopes_do_not_collide(a: TenantScope, b: TenantScope) -> None:
    assert str(a) != str(b)
    assert a != b


def test_scope_string_is_stable() -> None:
    # Literal: the form must not change between releases or processes (it is part of cache keys).
    assert str(TenantScope("acme corp", "u/1")) == "tenant=acme%20corp;subject=u%2F1"
    assert TenantScope("acme").key == canonical_text(("acme", None, False))
    keys = {TenantScope(t, s, a).key for t in ("a", "a;", None) for s in ("b", None, "*") for a in (True, False)}
    assert len(keys) == 18  # injective over forgeable-looking parts


def test_tenant_filter() -> None:
    table = Table("t", MetaData(), Column("tenant_id", String))
    clause = TenantScope("acme").tenant_filter(table.c.tenant_id)
    compiled = clause.compile(compile_kwargs={"literal_binds": True})
    assert str(compiled) == "t.tenant_id = 'acme'"
    with pytest.raises(PermissionDeniedException):
        TenantScope().tenant_filter(table.c.tenant_id)
    with pytest.raises(NotAuthorizedException):
        AuthContext[str, str].anonymous().scope.tenant_filter(table.c.tenant_id)
