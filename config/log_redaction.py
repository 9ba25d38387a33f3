"""No token, code or secret ever reaches a log line.

A client may put a credential where it does not belong (a bearer token in
/mcp's query string, which the guard refuses) or where it must go but
should not be kept (an authorization code on the redirect, a password in
a form). The server's own loggers never format such values, but uvicorn's
access log writes every request's path with its query string verbatim,
and a DEBUG level would let oauthlib's request dumps through.

`RedactSecrets` rewrites a record's message, replacing the value of every
sensitive parameter (`name=value` in a query string or form body, and
`"name": "value"` in JSON) with `[redacted]`, and a bearer token after
`Bearer `. `install()` puts it on uvicorn's loggers and on the handlers of
the root logger; Django's LOGGING names it for its own handler.
"""

import logging
import re

SENSITIVE_NAMES = (
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "code",
    "code_verifier",
    "client_secret",
    "client_assertion",
    "password",
    "assertion",
)
REDACTED = "[redacted]"

_NAMES = "|".join(sorted(SENSITIVE_NAMES, key=len, reverse=True))
# name=value in a query string or a form body: the value runs to & or space.
_PAIR = re.compile(rf"(?<![\w-])({_NAMES})=[^&\s\"']+", re.IGNORECASE)
# "name": "value" in JSON.
_JSON = re.compile(rf"(\"(?:{_NAMES})\"\s*:\s*)\"[^\"]*\"", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
_LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error", "oauthlib")


def redact(text: str) -> str:
    """`text` with every sensitive parameter's value replaced by [redacted]."""
    text = _PAIR.sub(rf"\1={REDACTED}", text)
    text = _JSON.sub(rf'\1"{REDACTED}"', text)
    return _BEARER.sub(rf"\1{REDACTED}", text)


class RedactSecrets(logging.Filter):
    """A filter that redacts a record's formatted message; it drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def install() -> None:
    """Put `RedactSecrets` on uvicorn's and oauthlib's loggers and root's handlers.

    Logger filters see only records logged on that very logger (uvicorn logs
    on "uvicorn.access" and "uvicorn.error" directly); handler filters see
    everything that propagates to the root. Idempotent.
    """
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in _LOGGERS]
    targets += logging.getLogger().handlers
    for target in targets:
        if not any(isinstance(f, RedactSecrets) for f in target.filters):
            target.addFilter(RedactSecrets())
