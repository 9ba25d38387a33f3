"""The audit writer's metrics: batch size and commit time.

`observe_audit_batch` is called by either writer (the thread of
audit/writer.py, the event loop's of audit/writer_pg_async.py) once per
committed transaction, through audit/writer_bookkeeping.py. The queue
depth is a gauge read from the writer's backlog (audit/writer_backlog.py)
by config/process_gauges.py.
prometheus_client is in multiprocess mode here (config/metrics_dir.py):
each value lives in this process's file of the node's directory.
"""

from prometheus_client import Histogram

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
COMMIT_SECONDS_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
)  # fmt: skip

AUDIT_BATCH_SIZE = Histogram(
    "mcp_audit_batch_size",
    "Audit events committed in one transaction by the group-commit writer.",
    buckets=BATCH_SIZE_BUCKETS,
)
AUDIT_COMMIT_SECONDS = Histogram(
    "mcp_audit_commit_seconds",
    "Time to commit one audit batch, retries included (seconds).",
    buckets=COMMIT_SECONDS_BUCKETS,
)


def observe_audit_batch(size: int, seconds: float) -> None:
    """Record one committed batch of `size` events that took `seconds`."""
    AUDIT_BATCH_SIZE.observe(size)
    AUDIT_COMMIT_SECONDS.observe(seconds)
