"""Where the workers of one node keep their metrics: prometheus_client's
multiprocess directory.

prometheus_client chooses between in-process values and per-process files
when it is first imported, from PROMETHEUS_MULTIPROC_DIR (NOTES trap 21):
so `configure` runs from the settings module, before anything imports the
library, and sets that variable for this process (and its children).

The directory belongs to one node, i.e. one uvicorn server: a `--workers N`
supervisor and its workers, or a single uvicorn process. MCP_METRICS_DIR
names it; by default it is `.cache/metrics/node-<pid>` under the project,
where pid is the uvicorn supervisor's (a worker's parent, started with
multiprocessing's spawn) or, for a single process, its own. Two nodes
therefore never mix their counts unless they are given the same directory.

Stale files go at start:
- default directories of nodes whose process is gone are removed whole;
- in this node's directory, if no process that wrote a file there is alive
  (the node is starting, not one worker being replaced), every file is
  removed; otherwise only the live-gauge files of dead processes are
  (`mark_process_dead`), so the node's counters keep what its replaced
  workers counted, as prometheus_client's multiprocess mode expects.
"""

import contextlib
import multiprocessing
import os
import shutil
from pathlib import Path

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
NODE_PREFIX = "node-"


def node_pid() -> int:
    """The pid that names this node: the uvicorn supervisor's, else our own."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid else os.getpid()


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0 delivers nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def file_pid(path: Path) -> int | None:
    """The pid in a prometheus_client file name (`counter_123.db`), if any."""
    if path.suffix != ".db":
        return None
    tail = path.stem.rpartition("_")[2]
    return int(tail) if tail.isdigit() else None


def remove_dead_nodes(parent: Path, *, keep: Path) -> None:
    """Remove default node directories whose node process is gone."""
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        name = entry.name
        if entry == keep or not name.startswith(NODE_PREFIX):
            continue
        pid = name.removeprefix(NODE_PREFIX)
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def clean(directory: Path) -> None:
    """Remove what dead processes left in `directory` (see the module)."""
    me = os.getpid()
    files = {path: file_pid(path) for path in directory.glob("*.db")}
    others = {pid for pid in files.values() if pid is not None and pid != me}
    live = {pid for pid in others if alive(pid)}
    for path, pid in files.items():
        if pid is None or pid == me or pid in live:
            continue
        # A starting node drops everything; a replaced worker only its
        # live gauges (its counters stay part of the node's totals).
        if not live or path.name.startswith("gauge_live"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def configure(explicit: str, *, base_dir: Path) -> Path:
    """Choose, create and clean this node's directory; export it; return it.

    `explicit` is MCP_METRICS_DIR ("" for the default under `base_dir`).
    Must run before prometheus_client is first imported.
    """
    if explicit:
        directory = Path(explicit)
    else:
        parent = base_dir / ".cache" / "metrics"
        directory = parent / f"{NODE_PREFIX}{node_pid()}"
        remove_dead_nodes(parent, keep=directory)
    directory.mkdir(parents=True, exist_ok=True)
    clean(directory)
    os.environ[ENV_VAR] = str(directory)
    return directory
