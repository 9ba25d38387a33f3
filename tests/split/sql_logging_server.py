"""uvicorn serving config.asgi that appends every SQL statement to a file.

`python -m tests.split.sql_logging_server PORT` with SQL_LOG_PATH set: each
database connection the process opens (any thread: the MCP app's database
threads, the audit writer, Django's) logs every statement, whitespace-
collapsed, one per line, at the driver: SQLite's trace callback, or on
PostgreSQL a logging subclass of the connection's psycopg cursor class. So
statements sent through a raw DB-API cursor (the audit writer's batch
INSERT) are caught as well as the ORM's. The PostgreSQL audit writer's own
AsyncConnection (audit/writer_pg_connection.py, not one of Django's) is
caught at psycopg's AsyncCursor.execute.
"""

import os
import sys
import threading
from typing import Any

import django
import psycopg

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

import uvicorn  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402

_lock = threading.Lock()
_path = os.environ["SQL_LOG_PATH"]


def _write(sql: str) -> None:
    with _lock, open(_path, "a") as log:
        log.write(" ".join(str(sql).split()) + "\n")


_logging_classes: dict[type, type] = {}


def _logging_cursor(base: type) -> type:
    """`base` (a psycopg cursor class) writing each statement before it runs."""
    if getattr(base, "logs_statements", False):
        return base
    if base not in _logging_classes:

        class LoggingCursor(base):  # type: ignore[misc, valid-type]
            logs_statements = True

            def _text(self, query: Any) -> str:
                return query if isinstance(query, str) else query.as_string(self)

            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                _write(self._text(query))
                return super().execute(query, *args, **kwargs)

            def executemany(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                _write(self._text(query))
                return super().executemany(query, *args, **kwargs)

        _logging_classes[base] = LoggingCursor
    return _logging_classes[base]


def _text_of(query: Any, context: Any) -> str:
    if isinstance(query, bytes):
        return query.decode()
    return query if isinstance(query, str) else query.as_string(context)


_async_execute = psycopg.AsyncCursor.execute


async def _logged_async_execute(
    self: psycopg.AsyncCursor, query: Any, *args: Any, **kwargs: Any
) -> Any:
    _write(_text_of(query, self))
    return await _async_execute(self, query, *args, **kwargs)


psycopg.AsyncCursor.execute = _logged_async_execute  # type: ignore[method-assign]


def _install(sender: Any, connection: Any, **kwargs: Any) -> None:
    raw = connection.connection
    if connection.vendor == "sqlite":
        raw.set_trace_callback(_write)
    else:
        raw.cursor_factory = _logging_cursor(raw.cursor_factory)


connection_created.connect(_install)

if __name__ == "__main__":
    uvicorn.run(
        "config.asgi:application",
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
    )
