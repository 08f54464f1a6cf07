"""The page's layout on a screen and on a projector.

- ``configure``: the page settings and CSS.  Presentation mode (the sidebar's toggle,
  ``present=1`` in the URL) is sized for a projector at 1920 x 1080 or 1600 x 1000: a
  22 px root font, a smaller one-line title, narrow page margins and the sidebar
  collapsed when the page opens (and narrowed when the mode is switched on from it).
  On narrow screens (below NARROW_PX) a row of widgets wraps into several rows instead
  of squeezing its widgets until they overlap, and figures side by side are stacked.
- ``slots``: where a view puts its explanations and settings and where its main figure.
  In presentation mode the figure comes first, so that it fills the viewport without
  scrolling; the text and the settings follow it.  Presentation heights of the figures (each view's PRESENT_HEIGHT) fit the smaller
  projector viewport (1000 px high) under the page's header.
"""
from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

PRESENT_ROOT_PX = 22          # the page's root font in presentation mode (Streamlit's default: 16)
NARROW_PX = 1000              # below this page width a row of widgets wraps
SIDEBAR_PRESENT_PX = 300      # the sidebar's width in presentation mode
HEADER_PX = 56                # Streamlit's header (menu, sidebar button) in presentation mode: not 3.75 rem

BASE_CSS = """
[data-testid=stMainBlockContainer] { padding-top: 2rem; }
@media (max-width: %(narrow)dpx) {
  [data-testid=stHorizontalBlock] { flex-wrap: wrap; }
  [data-testid=stColumn] { min-width: min(100%%, 10rem); }
  [data-testid=stColumn]:has([data-testid=stPlotlyChart]) { min-width: min(100%%, 26rem); }
}
"""
PRESENT_CSS = """
html { font-size: %(root)dpx; }
[data-testid=stHeader] { height: %(header)dpx; min-height: %(header)dpx; }
[data-testid=stMainBlockContainer] { padding: %(top)dpx 1.5rem 2rem 1.5rem; max-width: 100%%; }
[data-testid=stMainBlockContainer] h1 { font-size: 1.6rem; padding: 0 0 0.2rem 0; white-space: nowrap;
                                        overflow: hidden; text-overflow: ellipsis; }
section[data-testid=stSidebar][aria-expanded=true] { width: %(sidebar)dpx !important;
                                                      min-width: %(sidebar)dpx !important; }
[data-testid=stCaptionContainer] { font-size: 0.8rem; }
"""


def configure(present: bool) -> None:
    """The page settings (wide layout; in presentation mode the sidebar starts
    collapsed) and the page's CSS."""
    st.set_page_config(page_title="Cautious dynamics", page_icon="〰", layout="wide",
                       initial_sidebar_state="collapsed" if present else "auto")
    css = BASE_CSS % dict(narrow=NARROW_PX)
    if present:
        css += PRESENT_CSS % dict(root=PRESENT_ROOT_PX, sidebar=SIDEBAR_PRESENT_PX, header=HEADER_PX,
                                  top=HEADER_PX + 4)
    st.markdown(f"<style>{css}</style>", unsafe_allow_html=True)


def slots(present: bool) -> tuple[DeltaGenerator, DeltaGenerator]:
    """(text, figure): two containers of the page, the text's first, or in presentation
    mode the figure's first."""
    first, second = st.container(), st.container()
    return (second, first) if present else (first, second)

