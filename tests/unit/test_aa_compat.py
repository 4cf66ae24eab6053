"""The AA private members the kit relies on still exist with the expected shapes."""

from __future__ import annotations

import subprocess
import sys

from litestar_alchemy_kit._aa_compat import problems


def test_installed_aa_has_every_relied_on_member() -> None:
    assert problems() == []


_PATCHED = """
from litestar_alchemy_kit._aa_compat import problems
from advanced_alchemy.repository import SQLAlchemyAsyncRepository, SQLAlchemySyncRepository
from advanced_alchemy.extensions.litestar import _utils
del SQLAlchemyAsyncRepository._build_pk_filter
SQLAlchemySyncRepository._expunge = lambda self, instance: None
del _utils.get_aa_scope_state
print("\\n".join(problems()))
"""


def test_a_patched_aa_is_reported() -> None:
    # An AA release that removes or reshapes a member fails here, naming it.
    result = subprocess.run([sys.executable, "-c", _PATCHED], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [
        "SQLAlchemyAsyncRepository._build_pk_filter is missing",
        "SQLAlchemySyncRepository._expunge takes ('self', 'instance'), expected ('self', 'instance', 'auto_expunge')",
        "advanced_alchemy.extensions.litestar._utils:get_aa_scope_state is missing",
    ]
