"""uvicorn serving config.asgi that appends every SQL statement to a file.

`python -m tests.split.sql_logging_server PORT` with SQL_LOG_PATH set: each
database connection the process opens (any thread: the MCP app's database
threads, the audit writer, Django's) logs every statement, whitespace-
collapsed, one per line. On SQLite the driver's own trace callback does it,
so statements sent through a raw DB-API cursor (the audit writer's batch
INSERT) are caught too; on PostgreSQL Django's execute wrappers do (the
audit writer's raw statements, which touch only audit tables, are not).
"""

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

import uvicorn  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402

_lock = threading.Lock()
_path = os.environ["SQL_LOG_PATH"]


def _write(sql: str) -> None:
    with _lock, open(_path, "a") as log:
        log.write(" ".join(str(sql).split()) + "\n")


def _log(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
) -> Any:
    _write(sql)
    return execute(sql, params, many, context)


def _install(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.set_trace_callback(_write)
    elif _log not in connection.execute_wrappers:
        connection.execute_wrappers.append(_log)


connection_created.connect(_install)

if __name__ == "__main__":
    uvicorn.run(
        "config.asgi:application",
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
    )
