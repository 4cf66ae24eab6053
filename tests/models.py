"""Models shared by the matrix fixtures."""

import datetime

from advanced_alchemy.extensions.litestar.store import StoreModelMixin
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, declared_attr, mapped_column


class StoreItem(StoreModelMixin):
    """Table behind the ``db_store`` matrix entry (AA's ``SQLAlchemyStore``).

    AA 1.12's mixin declares ``expires_at`` NOT NULL while its store writes NULL for keys
    without expiry, so every ``set`` without ``expires_in`` fails; the column is nullable here.
    """

    __tablename__ = "lak_test_store_item"

    @declared_attr
    def expires_at(cls) -> Mapped[datetime.datetime | None]:  # type: ignore[override]  # noqa: N805
        return mapped_column(DateTimeUTC(timezone=True), nullable=True, index=True)
