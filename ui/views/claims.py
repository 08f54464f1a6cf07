"""Paper claims: the claims of arXiv 2411.16085v4 (Cautious Optimizers: Theorem 2.1,
Section 3.1 / Figures 1-2, the one-step theorems of Section 2.3 and Appendix A) and
arXiv 2510.12402v2 (Cautious Weight Decay, Sections 2-3), each quoted and judged on its
own words by dynamics.claims at the papers' settings (not the sidebar's): ✓ holds,
✗ does not hold, ◐ holds only under a stated condition; the project's own
observations are labelled apart.  Each check of dynamics.claims.CHECKS is cached
once computed (together about a minute)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dynamics.claims import CHECKS, CONDITIONAL, FAILS, HOLDS, run_claims
from dynamics.claims_base import MARK, written_parts
from ui import guard
from ui.session import Context

RUN_KEY = "_claims_run"
VERDICT = {v: f"{m} {v}" for v, m in MARK.items()}


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


def summary(claims: list[dict]) -> pd.DataFrame:
    """One row per claim: id, verdict (with its mark), kind, source, statement, condition."""
    rows = [{"claim": c["id"], "verdict": VERDICT[c["verdict"]], "kind": c["kind"], "source": c["source"],
             "statement": c["statement"], "condition": c["condition"] or ""} for c in claims]
    return pd.DataFrame(rows, columns=["claim", "verdict", "kind", "source", "statement", "condition"])


def measured(claims: list[dict]) -> pd.DataFrame:
    """One row per numeric measured value: claim, quantity, value (strings are in the quantity names)."""
    rows = [{"claim": c["id"], "quantity": k, "value": float(v)}
            for c in claims for k, v in flatten(c["measured"]).items()
            if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)]
    return pd.DataFrame(rows, columns=["claim", "quantity", "value"])


def counts(claims: list[dict]) -> str:
    """"**a of N claims hold** (✓); b ◐ hold only under a condition; c ✗ do not hold" in Markdown."""
    n = {v: sum(c["verdict"] == v for c in claims) for v in (HOLDS, CONDITIONAL, FAILS)}
    return (f"**{n[HOLDS]} of {len(claims)} claims hold** (✓); {n[CONDITIONAL]} ◐ hold only under a condition; "
            f"{n[FAILS]} ✗ do not hold")


def _start() -> None:
    st.session_state[RUN_KEY] = True


def render(ctx: Context) -> None:
    st.markdown("The papers' claims as they state them, recomputed with this library at the papers' settings (the "
                "sidebar does not apply): arXiv 2411.16085v4 (Cautious Optimizers) and arXiv 2510.12402v2 (Cautious "
                "Weight Decay).  Each is judged on its own words: ✓ holds, ✗ does not hold, ◐ holds only under the "
                "stated condition; *project observation* marks the project's own statements.  The same report: "
                "`python -m dynamics claims`.")
    ss = st.session_state
    if not ss.get(RUN_KEY):
        st.button("Recompute the claims (about a minute)", type="primary", key=RUN_KEY + "_button", on_click=_start)
        return
    bar = st.progress(0.0, text="recomputing the claims…")
    claims = []
    for i, name in enumerate(CHECKS):
        guard.stop_if_ended()
        bar.progress(i / len(CHECKS), text=f"recomputing {name} ({i + 1}/{len(CHECKS)})…")
        claims += check(name)
    bar.empty()
    st.markdown(counts(claims) + ", under the stated tests.")
    st.table(summary(claims).set_index("claim"))
    st.markdown("#### Quotes, tests and conditions")
    for c in claims:
        lines = [f"**{MARK[c['verdict']]} {c['id']}** ({c['kind']}; {c['source']}): {c['verdict']}."]
        lines += [f"*{part.capitalize()}:* {text}" for part, text in written_parts(c)]
        if c["note"]:
            lines.append(f"*Note:* {c['note']}")
        st.markdown("  \n".join(lines))
    st.markdown("#### Every measured value")
    st.dataframe(measured(claims), hide_index=True, width="stretch", key="claims_measured",
                 column_config={"value": st.column_config.NumberColumn(format="%.6g")})
