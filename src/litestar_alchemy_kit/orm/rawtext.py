"""Raw SQL fragments (``text()``, ``literal_column()``): whether one may read untracked tables or vary per call.

Shared by statement analysis (fragments in a statement) and dependency analysis (fragments in a mapper's
column properties and relationships), so both bypass the cache for the same reasons, in the same words.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ("NONDETERMINISTIC_CALLS", "NONDETERMINISTIC_SQL", "raw_sql_reasons")

NONDETERMINISTIC_CALLS: Final = (
    "now|random|rand|random_uuid|gen_random_uuid|uuid|uuid_generate_v1|uuid_generate_v1mc|uuid_generate_v4|"
    "uuidv4|uuidv7|uuid_short|newid|newsequentialid|sysdate|systimestamp|getdate|getutcdate|sysdatetime|"
    "utc_timestamp|utc_date|utc_time|unix_timestamp|clock_timestamp|statement_timestamp|transaction_timestamp|"
    "timeofday|current_timestamp|current_date|current_time|localtime|localtimestamp|curdate|curtime|"
    "nextval|currval|lastval|setval|next_value|last_insert_id|last_insert_rowid|changes|setseed|txid_current|"
    "pg_backend_pid|connection_id|found_rows|row_count|sleep|pg_sleep|random_normal|user|current_user|"
    "session_user|current_role|system_user|database|schema|current_schema|version"
)
NONDETERMINISTIC_SQL: Final = re.compile(
    rf"\b(?:{NONDETERMINISTIC_CALLS})\s*\(|"
    r"\b(?:current_timestamp|current_date|current_time|localtime|localtimestamp|current_user|session_user|"
    r"current_role|sysdate|systimestamp)\b",
    re.IGNORECASE,
)
# a raw SQL fragment that may pull rows from tables we cannot see
_READS_TABLES_SQL: Final = re.compile(
    r"\b(?:select|from|join|union|intersect|except|with|into|exists|table)\b", re.IGNORECASE
)


def raw_sql_reasons(text: str) -> list[str]:
    """Why a raw SQL fragment must not be cached: the bypass reasons, none when it is harmless.

    Args:
        text: The fragment's SQL.

    Returns:
        Lowercase reasons for telemetry and logs.
    """
    reasons: list[str] = []
    if NONDETERMINISTIC_SQL.search(text):
        reasons.append(f"non-deterministic sql in text fragment {text[:60]!r}")
    if _READS_TABLES_SQL.search(text):
        reasons.append(f"text fragment {text[:60]!r} may read tables that cannot be tracked")
    return reasons
