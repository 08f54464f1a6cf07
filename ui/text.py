"""User-controlled text shown as text: values from the URL, names and messages of an
uploaded file, the typed objective and its parser's messages.  Streamlit renders the
strings of st.warning, st.error, st.markdown, st.caption, st.info and st.subheader as
markdown (links, images, emphasis, ``$...$`` as LaTeX, ``:red[...]`` colours, bare
``https://`` and ``www.`` links), so such text goes through ``plain`` first: every ASCII
punctuation character is backslash-escaped (CommonMark lets any of them be escaped, and
the escape shows the character itself), line breaks become spaces, and text longer than
``limit`` characters is cut with an ellipsis and its full length stated.
"""
from __future__ import annotations

import string

TEXT_LIMIT = 80          # a value, a file name, an objective
LINE_LIMIT = 300         # a whole message that quotes a value (a URL warning, a parser's error)
_ESCAPES = str.maketrans({**{c: "\\" + c for c in string.punctuation}, "\n": " ", "\r": " ", "\t": " "})


def plain(text, limit: int = TEXT_LIMIT) -> str:
    """``text`` (str() of it) as markdown that shows exactly its characters: no link,
    image, emphasis, maths or colour; cut to ``limit`` characters with "…" and the full
    length when longer."""
    text = str(text)
    cut = text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"
    return cut.translate(_ESCAPES)
