"""Row locks that work alike on PostgreSQL and SQLite.

A change that starts from what it read must hold the row from the read to the
commit, or two concurrent changes each write back the other's old value. SQLite has
no ``SELECT … FOR UPDATE``; a no-op UPDATE (a column set to itself) takes the row lock
on PostgreSQL and the database's write lock on SQLite, so concurrent changes queue up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.ext.asyncio.session import AsyncSession


async def hold(session: AsyncSession, column: Any, *where: ColumnElement[bool]) -> int:
    """Lock the rows of ``column``'s table that match ``where`` until commit (``column``
    is set to itself); returns how many there were."""
    result = await session.exec(
        update(column.class_)
        .where(*where)
        .values({column: column})
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


async def hold_row(
    session: AsyncSession, row: object, column: Any, *where: ColumnElement[bool]
) -> bool:
    """Lock ``row`` (the one row ``where`` matches) until commit and re-read it, so a
    change starts from it as it is now; False if it is gone."""
    if await hold(session, column, *where) != 1:
        return False
    await session.refresh(row)
    return True
