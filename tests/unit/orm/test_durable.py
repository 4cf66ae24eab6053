"""Which statements make a transaction's writes durable (:func:`litestar_alchemy_kit.orm.durable.commits`)."""

from __future__ import annotations

import pytest

from litestar_alchemy_kit.orm.durable import autocommit_set, commits


@pytest.mark.parametrize(
    "sql",
    [
        "COMMIT",
        "commit;",
        "  COMMIT WORK ; ",
        "/* raw */ COMMIT;",
        "-- done\nCOMMIT",
        "END",
        "end transaction",
        "COMMIT AND NO CHAIN",
        "COMMIT AND CHAIN",
    ],
)
def test_a_lone_commit_commits_on_every_dialect(sql: str) -> None:
    for dialect in ("postgresql", "sqlite", "duckdb", "mysql", "mariadb"):
        assert commits(sql, dialect) == "commit", (sql, dialect)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE item SET name = 'x'; COMMIT",
        "COMMIT; UPDATE item SET name = 'x'",
        "DO $$ BEGIN UPDATE item SET name = 'x'; END $$",  # no commit, but one cannot tell without parsing
    ],
)
def test_a_commit_among_statements_may_commit(sql: str) -> None:
    assert commits(sql, "postgresql") == "maybe"


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE t (x integer)",
        "CREATE INDEX ix ON t (x)",
        "ALTER TABLE t ADD COLUMN y integer",
        "DROP TABLE t",
        "RENAME TABLE t TO u",
        "TRUNCATE TABLE t",
        "TRUNCATE t",
        "LOCK TABLES t WRITE",
        "UNLOCK TABLES",
        "ANALYZE TABLE t",
        "OPTIMIZE LOCAL TABLE t",
        "START TRANSACTION",
        "BEGIN",
        "SET autocommit = 1",
        "GRANT SELECT ON t TO u",
        "/* migration */ ALTER TABLE t DROP COLUMN y",
    ],
)
def test_mysql_implicit_commits_may_commit(sql: str) -> None:
    for dialect in ("mysql", "mariadb"):
        assert commits(sql, dialect) == "maybe", (sql, dialect)
    assert commits(sql, "postgresql") is None  # transactional DDL elsewhere


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "UPDATE item SET name = 'commit'",
        "INSERT INTO commits (x) VALUES (1)",
        "CREATE TEMPORARY TABLE t (x integer)",
        "DROP TEMPORARY TABLE t",
        "BEGIN NOT ATOMIC SELECT 1 END",
        "ROLLBACK",
        "SAVEPOINT sa_1",
        "COMMITTED",
        "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
    ],
)
def test_statements_that_commit_nothing(sql: str) -> None:
    assert commits(sql, "mysql") is None


@pytest.mark.parametrize(
    ("sql", "setting"),
    [
        ("SET autocommit=1", True),
        ("SET autocommit = ON", True),
        ("SET @@autocommit=1", True),
        ("SET @@session.autocommit = 1", True),
        ("SET SESSION autocommit=1", True),
        ("SET LOCAL autocommit := 1", True),
        ("set AUTOCOMMIT=true", True),
        ("SET @x = 1, autocommit = 1", True),
        ("SET sql_mode = '', @@autocommit = DEFAULT", True),  # unknown values count as on
        ("SET autocommit = @saved", True),
        ("/* pool */ SET autocommit = 0", False),
        ("SET autocommit = 0 + 1", True),  # an expression: not a plain off
        ("/*!40101 SET autocommit=1 */", True),  # MySQL's executable comment runs
        ("/*M!100100 SET @@autocommit = ON */", True),
        ("/*!40101 SET autocommit=0 */", False),
        ("/* SET autocommit=1 */ SELECT 1", None),  # a plain comment does not run
        ("SET autocommit=OFF, @x = 2", False),
        ("SET GLOBAL autocommit = 0", True),  # not the session's: never taken as turned off
        ("SET GLOBAL max_connections = 10, autocommit = 0", True),  # GLOBAL carries over to later assignments
        ("SET @autocommit = 1", None),  # a user variable
        ("SELECT @@autocommit", None),
        ("UPDATE item SET autocommit_flag = 1", None),
        ("SET TRANSACTION ISOLATION LEVEL READ COMMITTED", None),
    ],
)
def test_what_a_statement_sets_autocommit_to(sql: str, setting: bool | None) -> None:
    assert autocommit_set(sql) is setting


@pytest.mark.parametrize("sql", ["SET autocommit=1", "SET @x = 1, autocommit = 1", "SET autocommit = 0"])
def test_setting_autocommit_may_commit_on_mysql_only(sql: str) -> None:
    for dialect in ("mysql", "mariadb"):
        assert commits(sql, dialect) == "maybe", (sql, dialect)
    assert commits(sql, "postgresql") is None
