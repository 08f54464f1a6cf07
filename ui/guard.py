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
import sys
import threading
from typing import Callable, Iterator

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dynamics.budget import APP_WORK_LIMIT, ENV, BudgetError, Cost, problem, work_limit

VIEWS_AT_ONCE = 2                   # views drawn at once, process-wide (one per core)
WAITING = "waiting for the server (it is drawing other views)…"
_SLOTS = threading.Semaphore(VIEWS_AT_ONCE)
SWITCH_INTERVAL_S = 0.001           # Python's interpreter lock changes hands at least this often (default 5 ms)


def share_the_interpreter() -> None:
    """Let the server's own thread, which answers every browser, take Python's lock
    within SWITCH_INTERVAL_S of asking while views compute: it asks again after every
    read and write on a socket, and at the default 5 ms each of those waits behind the
    drawing threads (README, "Running it for a class")."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


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
