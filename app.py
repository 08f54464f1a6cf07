"""Streamlit entry point: page, sidebar and one tab per view (ui/views/).

The state lives in the URL (ui.state, ui.session); computations are cached pure
functions (ui.compute over dynamics/); figures come from viz/.  Runs are float64 by
default, so the app turns on JAX's 64-bit mode first (dynamics.enable_float64).  Run it
with ``streamlit run app.py``.
"""
import logging

import streamlit as st

from dynamics import enable_float64
from ui import downloads, guard, paper_figures, screen, session, sidebar
from ui.views import VIEWS

enable_float64()
guard.share_the_interpreter()
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
                        view.render(ctx)
                except Exception as err:  # a view must never show a traceback (issue 5)
                    logging.getLogger(__name__).exception("view %s failed", view.slug)
                    st.error(f"The {view.label} view could not be drawn for these settings: {err}")
session.write_url(session.values())
