"""What a tool function is given about its call: `ToolContext`, and `ToolError`.

A tool sees its caller only through the context: the principal of the
verified token (tenant, user, client, scopes), querysets already scoped to
the caller's tenant, and the reason its audit row will carry.
"""

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.db import models
from django.db.models import QuerySet

from mcpserver.auth import Principal
from mcpserver.db import run_db
from mcpserver.tenant_scope import scoped

M = TypeVar("M", bound=models.Model)
P = ParamSpec("P")
R = TypeVar("R")


class ToolError(Exception):
    """A refusal the model should read: an `isError` result, not a crash.

    `message` is the text the client sees; `reason` (default: the message)
    goes to the audit row; `structured` becomes the `structuredContent`. A
    sync tool that changes data and raises ToolError changes nothing: its
    transaction rolls back.
    """

    def __init__(
        self, message: str, *, reason: str | None = None, structured: Any = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = message if reason is None else reason
        self.structured = structured


class ToolContext:
    """One call's caller, tenant-scoped data access, and audit reason.

    Built by the server for each call; a tool never constructs one.
    `audit_reason` is the reason recorded on the call's audit row; the tool
    may set it.
    """

    __slots__ = ("audit_reason", "principal", "request_id")

    def __init__(self, principal: Principal, request_id: str) -> None:
        self.principal = principal
        self.request_id = request_id
        self.audit_reason = ""

    @property
    def tenant_id(self) -> int:
        return self.principal.tenant_id

    @property
    def tenant_slug(self) -> str:
        return self.principal.tenant_slug

    @property
    def user_id(self) -> int:
        return self.principal.user_id

    @property
    def client_id(self) -> str:
        return self.principal.client_id

    @property
    def scopes(self) -> frozenset[str]:
        return self.principal.scopes

    def scoped(self, model: type[M]) -> "QuerySet[M]":
        """`model`'s rows of the caller's tenant, and only those.

        Joins (`select_related`) and prefetches stay in the tenant too. Raises
        TypeError for a model without a tenant field (mcpserver/tenant_scope.py).
        """
        return scoped(model, self.principal.tenant_id)

    async def run_db(
        self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """For async tools: run the sync `fn` on the database thread pool.

        As mcpserver.db.run_db: bounded by MCP_DB_TIMEOUT_SECONDS, after
        which the call is answered "Service unavailable".
        """
        return await run_db(fn, *args, **kwargs)
