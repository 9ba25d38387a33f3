"""LOG_FORMAT=json: every log record as one JSON object on one line.

Each line has `time` (UTC, ISO 8601 with milliseconds), `level`, `logger`
and `message`; a record logged with `extra={"fields": {...}}` (the request
line of config/request_observer.py) adds those fields at the top level; a
record with an exception adds `exception` (its traceback as text). The
finished line goes through the same redaction as plain lines
(config/log_redaction.py), so a token, code or secret that reached a
message is replaced by [redacted] here too.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from config.log_redaction import redact

FIELDS_ATTRIBUTE = "fields"
"""The `extra` key whose dict is merged into the line."""


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS_ATTRIBUTE, None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # ensure_ascii keeps every line one line whatever a value holds.
        return redact(json.dumps(line, default=str, separators=(",", ":")))


def install_on_uvicorn() -> None:
    """Make uvicorn's own lines JSON too, and drop its access log.

    uvicorn configured its loggers before the application was imported;
    its handlers get this formatter (and the redaction filter stays on
    its loggers, config/log_redaction.py). The access log would repeat,
    on stdout and in another shape, what the "mcp.request" line says.
    """
    formatter = JsonFormatter()
    for name in ("uvicorn", "uvicorn.error"):
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(formatter)
    logging.getLogger("uvicorn.access").disabled = True
