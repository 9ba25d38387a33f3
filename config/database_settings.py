"""The database setting: DATABASE_URL, tuned for each engine.

Imported by config/settings.py (which has already loaded `.env` into the
environment).
"""

import math
from pathlib import Path
from typing import Any

import environ

env = environ.Env()


def database_settings(
    url: str, *, base_dir: Path, timeout_seconds: float
) -> dict[str, Any]:
    """The default database of `url`, tuned for each engine.

    A relative SQLite path is taken from `base_dir`; `timeout_seconds` is
    MCP_DB_TIMEOUT_SECONDS, the bound on a wait for the database.

    SQLite: WAL, IMMEDIATE transactions and a busy timeout, so several
    workers can write without "database is locked". PostgreSQL: psycopg's
    connection pool (CONN_MAX_AGE must then stay 0).
    """
    db = env.db_url_config(url)
    db["ATOMIC_REQUESTS"] = False  # services own their transactions
    db["CONN_MAX_AGE"] = 0
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = Path(db["NAME"])
        if db["NAME"] not in ("", ":memory:") and not name.is_absolute():
            db["NAME"] = str(base_dir / name)
        db["OPTIONS"] = {
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA foreign_keys=ON;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    elif db["ENGINE"] == "django.db.backends.postgresql":
        options = db.setdefault("OPTIONS", {})
        # Fail fast (timeout_seconds): a connect gives up after the
        # bound (libpq's minimum is 2 s); a thread waits at most 1 s for a
        # pooled connection, so during an outage each wait starts a new
        # connect; and a failed connect is not retried on psycopg's backoff
        # (1, 2, 4 ... s, which delayed recovery by seconds) but by the next
        # wait, so the first one after the database returns succeeds.
        options.setdefault("connect_timeout", max(2, math.ceil(timeout_seconds)))
        options["pool"] = {
            "min_size": 1,
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
            "timeout": min(1.0, timeout_seconds),
            "reconnect_timeout": 0,
        }
    return db
