"""The "compiling ..." notice: while a view runs, a small watcher thread shows in the
view's note slot which JAX program is being compiled (dynamics.compile_cache.WATCH) and
for how long so far, so that the first start of the server, which compiles every
program it draws, shows what it is doing instead of a blank tab.  The thread writes
through Streamlit's script-run context of the view's run (not from inside a cached
function, whose elements Streamlit would record and replay) and is stopped, and the
slot cleared, before the block ends.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from dynamics.compile_cache import ENV, WATCH, active

POLL_S = 0.25           # how often the watcher looks (a compile shorter than this is never shown)


def message(name: str, seconds: float, cached: bool) -> str:
    """The notice for program ``name`` compiling for ``seconds``; ``cached``: whether the
    compilation cache keeps it (dynamics.compile_cache.active)."""
    then = ("It is kept in the compilation cache, so the next start loads it in a moment." if cached else
            f"The compilation cache is off ({ENV}), so the next start compiles it again.")
    return f"Compiling {name} ({seconds:.0f} s so far): the first use of this program since the server started. {then}"


@contextlib.contextmanager
def notice(slot) -> Iterator[None]:
    """While the block runs, show ``message`` in ``slot`` (an st.empty) whenever this
    thread is compiling a program; clear it when the compile ends and when the block ends."""
    WATCH.start()
    thread, done = threading.get_ident(), threading.Event()

    def watch() -> None:
        shown = None
        while not done.wait(POLL_S):
            now = WATCH.current(thread)
            text = None if now is None else message(*now, cached=active())
            if text != shown:
                slot.info(text) if text else slot.empty()
                shown = text

    worker = threading.Thread(target=watch, name="compile-notice", daemon=True)
    add_script_run_ctx(worker, get_script_run_ctx())
    worker.start()
    try:
        yield
    finally:
        done.set()
        worker.join()
        slot.empty()
