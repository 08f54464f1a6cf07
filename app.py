"""Streamlit entry point: page, sidebar and one tab per view (ui/views/).

The state lives in the URL (ui.state, ui.session); computations are cached pure
functions (ui.compute over dynamics/); figures come from viz/.  Runs are float64 by
default, so the app turns on JAX's 64-bit mode first (dynamics.enable_float64), after
pointing JAX at the persistent compilation cache (dynamics.compile_cache).  The server's
first run says that it is loading while it imports JAX and the app, and each view says
which program it is compiling while it does (ui.compiling).  Run it with
``streamlit run app.py``.
"""
import logging
import sys

import streamlit as st

starting = "ui.session" not in sys.modules      # the server's first run: importing JAX and the app takes seconds
loading = st.empty()
if starting:
    loading.info("Starting the server: loading JAX and the app (only on its first visit)…")

from dynamics import compile_cache, enable_float64  # noqa: E402 (after the notice above)
from ui import compiling, downloads, guard, paper_figures, screen, session, sidebar  # noqa: E402
from ui.views import VIEWS  # noqa: E402

loading.empty()
compile_cache.enable()                  # before the first compilation: .cache/jax (README, "The app")
enable_float64()
guard.keep_the_server_responsive()
session.bootstrap()
vals = session.values()
screen.configure(vals["present"])
ctx = session.context(vals) if vals["opt"] else None
sidebar.render([spec.label for spec in ctx.runs] if ctx else [])
downloads.config_panel()
paper_figures.panel()
st.title("Cautious dynamics: how optimizers move")
st.caption(r"$w_{t+1} = w_t - \varepsilon\, u_t$ with $g_t = \nabla L(w_t)$; momentum is the undampened heavy ball "
           r"$s \leftarrow \beta s + g$ unless dampened. Cautious: $u \leftarrow \alpha\, \phi(u \odot g)\, u$ "
           "(arXiv 2411.16085).")
session.show_warnings()
downloads.export_notice()
if ctx is None:
    st.info("Choose at least one optimizer in the sidebar.")
else:
    for tab, view in zip(st.tabs([v.label for v in VIEWS], key=session.TAB_KEY, on_change="rerun"), VIEWS):
        with tab:
            if tab.open:
                try:
                    note = st.empty()
                    with guard.slot(note.info):      # at most two views drawn at once (ui.guard)
                        note.empty()
                        with compiling.notice(note):    # names the program being compiled, if any
                            view.render(ctx)
                except Exception as err:  # a view must never show a traceback (issue 5)
                    logging.getLogger(__name__).exception("view %s failed", view.slug)
                    st.error(f"The {view.label} view could not be drawn for these settings: {err}")
session.write_url(session.values())
