"""Which process holds a row: names for workers, and whether a named worker is gone.

Outbox rows and scheduled contacts record the worker that took them as ``host:pid``.
A restarting worker may take back what a *dead* worker on its own host held at once;
a worker on another host is only presumed dead when its lease runs out.
"""

from __future__ import annotations

import os
import socket


def worker_name() -> str:
    """This process, as recorded on the rows it takes (``host:pid``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_gone(worker: str | None) -> bool:
    """True only when ``worker`` ran on this host and that process no longer exists.

    Unknown shapes, other hosts and live processes are all "not known to be gone":
    the caller must then wait for the lease to run out.
    """
    if not worker:
        return False
    host, _, pid_text = worker.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, run by another user
        return False
    return False


__all__ = ["is_gone", "worker_name"]
