"""The commit guard with Advanced Alchemy's sync config: a flush-at-commit violation is the contract too."""

from pathlib import Path
from typing import Annotated

import pytest
from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin, SQLAlchemySyncConfig
from litestar import Litestar, post
from litestar.di import NamedDependency
from litestar.params import PathParameter
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from litestar_alchemy_kit.errors import ErrorsConfig, ErrorsPlugin
from tests.unit.errors._fixture_app import FuzzBase, Widget


@post("/widgets/{name:str}", sync_to_thread=False)
def create(name: Annotated[str, PathParameter()], db_session: NamedDependency[Session]) -> dict[str, str]:
    db_session.add(Widget(name=name, quantity=1))  # flushed only when the autocommit handler commits
    return {"name": name}


@pytest.mark.parametrize("guard", [True, False])
def test_sync_autocommit_failure_is_a_problem_response(tmp_path: Path, guard: bool) -> None:
    config = SQLAlchemySyncConfig(
        connection_string=f"sqlite:///{tmp_path / 'sync.db'}",
        before_send_handler="autocommit",
        create_all=True,
        metadata=FuzzBase.metadata,
    )
    app = Litestar(
        [create],
        plugins=[SQLAlchemyPlugin(config=config), ErrorsPlugin(ErrorsConfig(commit_before_response=guard))],
        on_shutdown=[config.get_engine().dispose],
    )
    with TestClient(app) as client:
        assert client.post("/widgets/alpha").status_code == 201
        response = client.post("/widgets/alpha")
    if not guard:  # AA's handler swallows the failed commit: the client is told it worked
        assert response.status_code == 201
        return
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "conflict.duplicate"
    assert "UNIQUE" not in response.text
    with Session(config.get_engine()) as session:
        assert session.scalars(select(Widget.name)).all() == ["alpha"]
