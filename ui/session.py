"""The session: load the state from the URL once, keep it across reruns, write it back
to the URL after every run, and the callbacks that change several settings at once
(toy change, preset, click on a plot).

Streamlit forgets the value of a widget that is not drawn in a run (a widget of a
hidden tab, a toy parameter of another toy); ``bootstrap`` re-assigns every state key
at the top of each run, which keeps them.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import streamlit as st

from toys import Toy
from ui.pin import PIN_KEY, parse_pin, pin_of_query, pin_text
from ui.presets import lesson_values, preset_values
from ui.state import (FIELDS, PARAM_PREFIX, START_KEYS, RunSpec, focus_of, parse_query, resolve_custom, runs_of,
                      to_query, toy_defaults, toy_key, toy_of, toy_params)
from ui.text import LINE_LIMIT, plain
from ui.views import DEFAULT_VIEW, VIEWS, label_of, slug_of
from viz.contour import PathStyle
from viz.theme import optimizer_colour

TAB_KEY = "_tab"
CAUTIOUS_DASH = {False: "solid", True: "dash"}     # colour is never the only cue
WARNINGS_KEY = "_url_warnings"
BOOTED_KEY = "_booted"
LESSON = "lesson"                      # the Lesson view's slug
LESSON_LINK_KEYS = {"view", "lesson", "present"}   # a lesson URL with only these loads the step's settings


def _state_keys() -> list[str]:
    ss = st.session_state
    return [k for k in ss if k in FIELDS or k in START_KEYS or str(k).startswith(PARAM_PREFIX) or k == TAB_KEY]


def load(values: dict[str, Any]) -> None:
    """Put ``values`` into session state (allowed before the widgets are drawn, or in a callback)."""
    ss = st.session_state
    for key in [k for k in ss if str(k).startswith(PARAM_PREFIX)]:
        del ss[key]
    for key, value in values.items():
        ss[key] = list(value) if isinstance(value, tuple) and key == "opt" else value


def bootstrap() -> None:
    """First run of a session: state from the URL (warnings kept for ``show_warnings``);
    a Lesson link with no settings (``?view=lesson&lesson=3``) loads that step's settings.
    Later runs: re-assign every state key so hidden widgets keep their values."""
    ss = st.session_state
    if BOOTED_KEY not in ss:
        query = st.query_params.to_dict()
        values, warnings = parse_query(query, extra_keys=("view", PIN_KEY))
        view = query.get("view", DEFAULT_VIEW)
        if label_of(view) is None:
            warnings.append(f"URL parameter view={view!r} ignored (expected one of "
                            f"{', '.join(v.slug for v in VIEWS)}); showing {DEFAULT_VIEW}")
            view = DEFAULT_VIEW
        ss[PIN_KEY], pin_warnings = pin_of_query(query)
        if view == LESSON and set(query) <= LESSON_LINK_KEYS:
            values = lesson_values(values["lesson"], values["present"])
        load(values)
        ss[TAB_KEY] = label_of(view)
        ss[WARNINGS_KEY] = warnings + pin_warnings
        ss[BOOTED_KEY] = True
    else:
        for key in _state_keys():
            ss[key] = ss[key]


def show_warnings() -> None:
    """The warnings of the URL this session started from (on its first run only)."""
    warnings = st.session_state.pop(WARNINGS_KEY, [])
    if warnings:
        st.warning("The link had settings that could not be used; defaults were used instead:\n\n"
                   + "\n".join(f"- {plain(w, LINE_LIMIT)}" for w in warnings))


def values() -> dict[str, Any]:
    """The current state (every field, the start and the current toy's parameters)."""
    ss = st.session_state
    out = {k: ss[k] for k in FIELDS}
    out["opt"] = tuple(out["opt"])
    for key in ("steps", "r_steps", "o_substeps", "i_step", "r_n"):
        out[key] = int(out[key])
    out.update({k: float(ss[k]) for k in START_KEYS})
    out.update({PARAM_PREFIX + k: float(ss[PARAM_PREFIX + k]) for k in toy_of(out["toy"]).defaults})
    return out


def write_url(vals: dict[str, Any]) -> None:
    """Replace the URL's query string by the state (non-default values only; the focus
    run is written only when it is not the default one).  In the Lesson view the toy is
    always written, so that the URL carries settings and reopens them, not the step's own
    (``bootstrap``)."""
    default_focus = focus_of(runs_of(vals), "").label if vals["opt"] else ""
    query = to_query({**vals, "focus": "" if vals["focus"] == default_focus else vals["focus"]})
    view = slug_of(st.session_state.get(TAB_KEY))
    if view != DEFAULT_VIEW:
        query["view"] = view
    if st.session_state.get(PIN_KEY):
        query[PIN_KEY] = st.session_state[PIN_KEY]
    if view == LESSON:
        query.setdefault("toy", vals["toy"])
    if query != st.query_params.to_dict():
        st.query_params.from_dict(query)


# ----------------------------------------------------------------------------- callbacks

def on_toy_change() -> None:
    """A new toy: its own parameters and start point."""
    ss = st.session_state
    for key in [k for k in ss if str(k).startswith(PARAM_PREFIX)]:
        del ss[key]
    for key, value in toy_defaults(ss["toy"]).items():
        ss[key] = value


def on_preset() -> None:
    """Apply the preset chosen in the sidebar selectbox (key ``_preset``)."""
    ss = st.session_state
    name = ss.get("_preset")
    if not name:
        return
    vals, view = preset_values(name)
    load(vals)
    ss[TAB_KEY] = label_of(view)
    ss["_preset_loaded"] = name
    ss["_preset"] = None


def on_lesson(step: int) -> None:
    """Go to lesson step ``step``: load its settings (the presentation mode is kept)."""
    load(lesson_values(step, bool(st.session_state.get("present", False))))


def on_start_click(chart_key: str) -> None:
    """A click on the contour: the clicked point becomes the start w_0."""
    points = st.session_state[chart_key]["selection"]["points"]
    if points:
        ss = st.session_state
        ss["sx"], ss["sy"] = round(float(points[0]["x"]), 4), round(float(points[0]["y"]), 4)


def load_cell(lr: float, beta: float, switch_to: str | None = "trajectories") -> None:
    """Load (lr, beta) into the sidebar, and show the ``switch_to`` view."""
    ss = st.session_state
    ss["lr"], ss["beta"] = float(lr), float(beta)
    if switch_to is not None:
        ss[TAB_KEY] = label_of(switch_to)


def on_pin() -> None:
    """Pin the current settings (ui.pin), replacing any earlier pin."""
    st.session_state[PIN_KEY] = pin_text(values())


def on_clear_pin() -> None:
    st.session_state[PIN_KEY] = None


def on_swap_pin() -> None:
    """Load the pinned settings and pin the current ones (display settings stay)."""
    ss = st.session_state
    current = values()
    pinned, _ = parse_pin(ss[PIN_KEY])
    load({**pinned, "present": current["present"]})
    ss[PIN_KEY] = pin_text(current)


# ----------------------------------------------------------------------------- context

class Context(NamedTuple):
    """What every view receives: the state, the toy and its parameters, the runs and
    their plotting styles (by label), the focus run of the single-run views, whether
    the app is in presentation mode and whether the page has the dark theme (``dark``:
    the figures draw their black marks in viz.theme.ink)."""

    values: dict[str, Any]
    toy: Toy
    params: dict[str, float]
    runs: list[RunSpec]
    styles: dict[str, PathStyle]
    focus: RunSpec
    presentation: bool
    dark: bool = False

    @property
    def params_key(self) -> tuple:
        return tuple(sorted(self.params.items()))


def dark_theme() -> bool:
    """Whether the page is drawn in Streamlit's dark theme (the browser's, or the one
    chosen in the settings menu; st.context.theme)."""
    return st.context.theme.type == "dark"


def context(vals: dict[str, Any]) -> Context:
    vals, _ = resolve_custom(vals)       # a typed objective that does not parse: the default toy (the sidebar says why)
    runs = runs_of(vals)
    dark = dark_theme()
    styles = {spec.label: PathStyle(optimizer_colour(spec.setup.optimizer, spec.setup.cautious, dark),
                                    CAUTIOUS_DASH[spec.setup.cautious]) for spec in runs}
    return Context(vals, toy_of(toy_key(vals)), toy_params(vals), runs, styles, focus_of(runs, vals["focus"]),
                   bool(vals["present"]), dark)
