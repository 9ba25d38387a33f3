"""The harness's failures, each with the exit code the command ends with."""


class HarnessError(Exception):
    """A failure the harness reports in one line and ends with `exit_code`."""

    exit_code = 1
    label = "failed"

    def __init__(self, reason: str, *, details: dict | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details or {}

    def __str__(self) -> str:
        return f"{self.label}: {self.reason}"


class ToolError(HarnessError):
    """The tool ran and answered with an error result (`isError: true`)."""

    exit_code = 1
    label = "tool error"


class UsageError(HarnessError):
    """The command line (or the tool arguments it carries) is wrong."""

    exit_code = 2
    label = "usage"


class Denied(HarnessError):
    """The server refused the call: unknown tool or insufficient scope."""

    exit_code = 3
    label = "denied"


class AuthenticationFailed(HarnessError):
    """No token: bad credentials, no such tenant, an OAuth error or mismatch."""

    exit_code = 4
    label = "authentication failed"


class UnknownClient(AuthenticationFailed):
    """The server does not know the client_id (deleted, expired or disabled).

    Reads and exits as any failed authentication; a caller that reused a
    cached registration catches it to register afresh.
    """


class Unreachable(HarnessError):
    """The server could not be reached (connection refused, timeout, DNS)."""

    exit_code = 5
    label = "server unreachable"
