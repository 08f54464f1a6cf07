"""Paper claims: the toy-scale claims of arXiv 2411.16085 (Cautious Optimizers: Theorem
2.3, Section 2 / Figure 2, Figure 3) and arXiv 2510.12402 (Cautious Weight Decay,
Sections 3-4) recomputed by dynamics.claims at the papers' own settings (not the
sidebar's): each claim, what was measured and whether it holds.  The checks take
about 10 s together; each is cached once computed."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dynamics.claims import CHECKS, run_claims
from ui.session import Context

RUN_KEY = "_claims_run"
VERDICT = {True: "✓ holds", False: "✗ does not hold"}
SUMMARY_ITEMS = 4       # measured values written in the summary table (all of them in the next one)


@st.cache_data(max_entries=len(CHECKS), show_spinner=False)
def check(name: str) -> list[dict[str, Any]]:
    """The claims of one check of dynamics.claims.CHECKS at the default ClaimSettings."""
    return [claim.as_dict() for claim in run_claims(only=[name])]


def flatten(measured: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested measured values as "a.b" -> value; a list's items as "a[i]"."""
    out: dict[str, Any] = {}
    for key, value in measured.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, list):
            out.update({f"{name}[{i}]": v for i, v in enumerate(value)})
        else:
            out[name] = value
    return out


def _fmt(value) -> str:
    return format(value, ".4g") if isinstance(value, float) else str(value)


def summary(claims: list[dict]) -> pd.DataFrame:
    """One row per claim: key, verdict (VERDICT), source, statement, the first measured values."""
    rows = []
    for c in claims:
        items = list(flatten(c["measured"]).items())
        text = ", ".join(f"{k} = {_fmt(v)}" for k, v in items[:SUMMARY_ITEMS])
        rows.append({"claim": c["key"], "holds": VERDICT[bool(c["holds"])], "source": c["source"],
                     "statement": c["claim"],
                     "measured": text + (", …" if len(items) > SUMMARY_ITEMS else "")})
    return pd.DataFrame(rows)


def measured(claims: list[dict]) -> pd.DataFrame:
    """One row per numeric measured value: claim, quantity, value (strings are in the quantity names)."""
    rows = [{"claim": c["key"], "quantity": k, "value": float(v)}
            for c in claims for k, v in flatten(c["measured"]).items()
            if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)]
    return pd.DataFrame(rows, columns=["claim", "quantity", "value"])


def _start() -> None:
    st.session_state[RUN_KEY] = True


def render(ctx: Context) -> None:
    st.markdown("The papers' toy-scale claims, recomputed with this library at the papers' settings (the sidebar "
                "does not apply): arXiv 2411.16085 (Cautious Optimizers) and arXiv 2510.12402 (Cautious Weight "
                "Decay). The same report: `python -m dynamics claims`.")
    ss = st.session_state
    if not ss.get(RUN_KEY):
        st.button("Recompute the claims (about 10 s)", type="primary", key=RUN_KEY + "_button",
                  on_click=_start)
        return
    bar = st.progress(0.0, text="recomputing the claims…")
    claims = []
    for i, name in enumerate(CHECKS):
        bar.progress(i / len(CHECKS), text=f"recomputing {name} ({i + 1}/{len(CHECKS)})…")
        claims += check(name)
    bar.empty()
    held = sum(c["holds"] for c in claims)
    st.markdown(f"**{held} of {len(claims)} claims hold** under the stated tests.")
    st.table(summary(claims).set_index("claim"))
    st.markdown("#### Tests and notes")
    for c in claims:
        verdict = "holds" if c["holds"] else "does not hold"
        st.markdown(f"**{c['key']}** ({c['source']}): {verdict}.  \n*Test:* {c['test']}"
                    + (f"  \n*Note:* {c['note']}" if c["note"] else ""))
    st.markdown("#### Every measured value")
    st.dataframe(measured(claims), hide_index=True, width="stretch", key="claims_measured",
                 column_config={"value": st.column_config.NumberColumn(format="%.6g")})
