"""CRUD through an Advanced Alchemy repository: one helper module, generated for both worlds."""

from advanced_alchemy.exceptions import DuplicateKeyError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy.ext.asyncio import AsyncSession

from tests.integration.smoke.models import Widget


class WidgetRepository(SQLAlchemyAsyncRepository[Widget]):
    model_type = Widget


async def crud_round_trip(session: AsyncSession) -> None:
    """Create, read, update, list, count and delete one row; every step is checked."""
    repo = WidgetRepository(session=session)
    created = await repo.add(Widget(name="alpha", quantity=1), auto_commit=True)
    await repo.add_many([Widget(name="beta", quantity=2), Widget(name="gamma", quantity=3)], auto_commit=True)

    fetched = await repo.get(created.id)
    assert (fetched.name, fetched.quantity) == ("alpha", 1)

    fetched.quantity = 10
    await repo.update(fetched, auto_commit=True)
    session.expunge_all()
    assert (await repo.get_one(name="alpha")).quantity == 10

    rows, total = await repo.get_many_and_count()
    assert total == 3
    assert sorted(row.name for row in rows) == ["alpha", "beta", "gamma"]
    assert await repo.count(name="beta") == 1

    await repo.delete(created.id, auto_commit=True)
    assert await repo.get_one_or_none(name="alpha") is None
    assert await repo.count() == 2


async def duplicate_is_reported(session: AsyncSession) -> None:
    """A unique violation surfaces as AA's DuplicateKeyError and loses nothing committed."""
    repo = WidgetRepository(session=session)
    await repo.add(Widget(name="unique", quantity=1), auto_commit=True)
    try:
        await repo.add(Widget(name="unique", quantity=2), auto_commit=True)
    except DuplicateKeyError:
        await session.rollback()
    else:  # pragma: no cover - the assertion below reports it
        msg = "a duplicate name was accepted"
        raise AssertionError(msg)
    kept = await repo.get_many(name="unique")
    assert [row.quantity for row in kept] == [1]
