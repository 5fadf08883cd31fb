"""Locks a forked child gets fresh.

A lock that another thread held at the moment of a fork (a listener applying an invalidation, a
request writing a cache) is held for ever in the child, where that thread does not exist: the
child's first request would wait on it for ever. gunicorn forks workers from a master that serves
nothing, but an app may fork too (multiprocessing's default start method on Linux).
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Protocol


class HoldsALock(Protocol):
    _lock: threading.Lock


_holders: weakref.WeakSet[HoldsALock] = weakref.WeakSet()


def renewed_at_fork(holder: HoldsALock) -> threading.Lock:
    """A new lock for ``holder._lock``, replaced by a new one in every child forked from now on."""
    _holders.add(holder)
    return threading.Lock()


def _renew_in_child() -> None:  # runs in the child alone, before any of its threads can start
    for holder in list(_holders):
        holder._lock = threading.Lock()


os.register_at_fork(after_in_child=_renew_in_child)
