"""The app's side of the work budget (dynamics.budget): a heavy view is sized before it
runs and, above the app's limit, shows one warning instead of computing; at most
VIEWS_AT_ONCE views are drawn at once in the whole server process (``slot``: the other
sessions wait, saying so, with their threads asleep, so that the server's own thread,
which answers every browser, is not starved of Python's interpreter lock); and long
work stops when its session has ended (the browser tab was closed), checked between
blocks.
"""
from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dynamics.budget import APP_WORK_LIMIT, ENV, BudgetError, Cost, problem, work_limit

VIEWS_AT_ONCE = 2                   # views drawn at once, process-wide (one per core)
WAITING = "waiting for the server (it is drawing other views)…"
_SLOTS = threading.Semaphore(VIEWS_AT_ONCE)
SWITCH_INTERVAL_S = 0.001           # Python's interpreter lock changes hands at least this often (default 5 ms)
DRAWING_NICE = 10                   # CPU priority of every thread but the server's own (0 is the default, 19 the lowest)
_FROZEN = False                     # the first run's objects are out of the garbage collector's reach


def keep_the_server_responsive() -> None:
    """Give the server's own thread, which answers every browser, the upper hand over the
    threads that draw views (README, "Running it for a class"): Python's lock changes hands
    within SWITCH_INTERVAL_S (the server's thread asks for it after every read and write
    on a socket, and at the default 5 ms each of those waits behind the drawing threads);
    every other thread of the process, including the compiled programs' worker threads,
    runs at the lower CPU priority DRAWING_NICE (on Linux), so that the operating system
    schedules the server's thread first; and the objects alive after the first run's
    imports (JAX's, Plotly's, Streamlit's) are frozen out of the garbage collector, whose
    full passes over them stopped every thread for 0.3-0.6 s."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    _lower_the_drawing_threads()
    global _FROZEN
    if not _FROZEN:
        gc.collect()
        gc.freeze()
        _FROZEN = True


def _lower_the_drawing_threads() -> None:
    """Every thread of this process but its main one (the server's event loop) at nice
    DRAWING_NICE or lower priority; new threads inherit their creator's priority, so the
    compiled programs' worker threads started by a drawing thread do too."""
    tasks = Path(f"/proc/{os.getpid()}/task")
    if not tasks.is_dir():                       # not Linux: the operating system decides
        return
    for task in tasks.iterdir():
        tid = int(task.name)
        with contextlib.suppress(OSError):       # the thread ended meanwhile
            if tid != os.getpid() and os.getpriority(os.PRIO_PROCESS, tid) < DRAWING_NICE:
                os.setpriority(os.PRIO_PROCESS, tid, DRAWING_NICE)


def affordable(cost: Cost, lower: str) -> bool:
    """True if ``cost`` fits the app's budget; else one st.warning saying what is too
    large, which settings to ``lower`` and that the operator can raise DYNAMICS_WORK_LIMIT
    (or, for a bad DYNAMICS_WORK_LIMIT, one st.error), and False."""
    try:
        limit = work_limit(APP_WORK_LIMIT)
    except BudgetError as err:
        st.error(f"The server is misconfigured: {err}")
        return False
    text = problem(cost, limit, f"the server's operator can raise the limit with the environment variable {ENV}",
                   lower=f"lower {lower}")
    if text is None:
        return True
    st.warning(text[0].upper() + text[1:] + ". Nothing was computed.")
    return False


def session_ended() -> bool:
    """True when this script run belongs to a session that has ended (its tab closed)."""
    ctx = get_script_run_ctx()
    return ctx is not None and Runtime.exists() and not Runtime.instance().is_active_session(ctx.session_id)


def stop_if_ended() -> None:
    """Stop this script run (st.stop) when its session has ended: long work calls it
    between blocks so that a closed tab frees the server within a block."""
    if session_ended():
        st.stop()


@contextlib.contextmanager
def slot(show: Callable[[str], None]) -> Iterator[None]:
    """Hold one of the VIEWS_AT_ONCE slots while the block runs; while waiting for one,
    ``show(WAITING)`` and stop if the session ends."""
    if not _SLOTS.acquire(blocking=False):
        show(WAITING)
        while not _SLOTS.acquire(timeout=0.5):
            stop_if_ended()
    try:
        yield
    finally:
        _SLOTS.release()
