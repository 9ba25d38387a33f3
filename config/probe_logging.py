"""A load balancer's probes of /readyz are not errors: one line per change.

HAProxy probes every node's /readyz twice a second. While a node is not
ready (draining after SIGTERM, the database away), each probe answers 503,
and Django's request logger would write an ERROR line for every one of
them. Instead `DropReadinessErrors` (on the console handler) drops those
lines and `report` writes one WARNING when the set of failing checks
changes, naming the checks and their words, and one more when the
process is ready again. Per process: each worker reports its own changes.
"""

import logging
import threading

logger = logging.getLogger("config.readiness")

READINESS_PATHS = frozenset({"/readyz"})

_lock = threading.Lock()
_failing: frozenset[str] = frozenset()


class DropReadinessErrors(logging.Filter):
    """Drop django.request's line for a 503 answered by /readyz."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "django.request":
            return True
        if getattr(record, "status_code", None) != 503:
            return True
        request = getattr(record, "request", None)
        return getattr(request, "path", None) not in READINESS_PATHS


def report(failing: dict[str, str]) -> None:
    """Log a change of readiness: `failing` maps each failing check to its words."""
    global _failing
    names = frozenset(failing)
    with _lock:
        if names == _failing:
            return
        _failing = names
    if names:
        words = "; ".join(f"{name}: {failing[name]}" for name in sorted(names))
        logger.warning("not ready: %s", words)
    else:
        logger.warning("ready again")


def reset() -> None:
    """Forget the last state (tests)."""
    global _failing
    with _lock:
        _failing = frozenset()
