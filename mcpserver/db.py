"""The one way the MCP app reaches the database.

The MCP app is mounted beside Django's ASGI handler, not inside it: no
request context gives it a thread per request, and Django's
request_started/request_finished signals never fire, so nothing would close
or recycle its connections (NOTES trap 8). Every ORM call of the MCP app
therefore goes through `run_db`, which runs it on a small, bounded pool of
worker threads and recycles the thread's connections around each call, as
Django does around a request: with CONN_MAX_AGE = 0 a PostgreSQL connection
goes back to psycopg's pool after every call (SQLite: see
`_recycle_connections`).

A caller waits at most MCP_DB_TIMEOUT_SECONDS for its call, then gets
`DatabaseUnavailable` (the stages answer 503): a database that is down,
black-holed or slow must cost a request a bounded wait, never a hang. A
thread cannot be stopped, so a call that overran finishes (or fails) on
its own, its outcome discarded; calls still queued behind it are dropped.
"""

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections

from audit.retry import transient_kind

P = ParamSpec("P")
R = TypeVar("R")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.MCP_DB_THREADS, thread_name_prefix="mcp-db"
            )
        return _executor


def _recycle_connections() -> None:
    """Close this thread's connections that are broken or past their age.

    SQLite connections are exempt from the age limit: there is no pool to
    return them to, reopening costs a connect, and closing the last
    connection to a WAL database checkpoints it (milliseconds per call).
    Each database thread keeps one; broken ones are still replaced.
    """
    for connection in connections.all(initialized_only=True):
        if connection.vendor == "sqlite":
            connection.close_at = None
        connection.close_if_unusable_or_obsolete()


def _with_fresh_connection(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    _recycle_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        _recycle_connections()


class DatabaseUnavailable(Exception):
    """The database did not answer in time, or cannot be reached: retry later."""


async def run_db(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run the synchronous `fn(*args, **kwargs)` on a database thread.

    At most MCP_DB_THREADS calls run at once per process; more wait their
    turn. The thread's connection is checked before and closed after the
    call, so connections are never leaked or kept past their age. `fn`
    owns its transactions (services are `durable`).

    Raises DatabaseUnavailable when the call has not finished within
    MCP_DB_TIMEOUT_SECONDS (its turn included) or failed for want of a
    database (a lost or refused connection, a pool timeout, a lock or
    serialization failure: what `audit.retry.transient_kind` names); any
    other exception propagates as it is.
    """
    loop = asyncio.get_running_loop()
    job = functools.partial(_with_fresh_connection, fn, *args, **kwargs)
    future = loop.run_in_executor(_get_executor(), job)
    try:
        async with asyncio.timeout(settings.MCP_DB_TIMEOUT_SECONDS):
            return await future
    except TimeoutError:
        raise DatabaseUnavailable("the database did not answer in time") from None
    except (OperationalError, InterfaceError) as exc:
        if transient_kind(exc) is None:
            raise
        raise DatabaseUnavailable("the database cannot be reached") from exc
