"""Pinned settings: a snapshot of the run settings that the Compare tab draws beside the
current ones.

A pin is the URL query of the settings it holds (ui.state.to_query, the toy always
written, the display settings ``present`` and ``focus`` left out), url-encoded into the
one URL field ``pin``, e.g. ``pin=toy%3Dquad-repo%26lr%3D0.02``.  ``parse_pin`` reads it back with
ui.state.parse_query and never raises: a pin that is too long or not a query string is
dropped with a warning, and a bad value inside it (including a nested ``pin`` or
``view``) falls back to its default with a warning, as in the URL itself.
"""
from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode

from ui.state import FIELDS, parse_query, to_query

PIN_KEY = "pin"                 # the URL field and the session-state key of the pin's text
PIN_LIMIT = 8192                # longest pin read from a URL, in characters
NOT_PINNED = ("present", "focus")    # display settings: the comparison follows the current ones


def pin_text(values: Mapping[str, Any]) -> str:
    """The pin of ``values``: their URL query, toy first, url-encoded as one string."""
    query = {"toy": values["toy"], **to_query(values)}
    return urlencode({k: v for k, v in query.items() if k not in NOT_PINNED})


def parse_pin(text: str) -> tuple[dict[str, Any] | None, list[str]]:
    """(values, warnings) of a pin's text; (None, [why]) when it cannot be read as a
    query string at all.  The warnings name the pin, so that a link's reader knows which
    side of the comparison they are about."""
    shown = text if len(text) <= 60 else text[:60] + "…"
    if len(text) > PIN_LIMIT:
        return None, [f"URL parameter pin={shown!r} ignored (longer than {PIN_LIMIT} characters); nothing is pinned"]
    try:
        pairs = parse_qsl(text, strict_parsing=True, max_num_fields=2 * len(FIELDS) + 8)
    except ValueError:
        return None, [f"URL parameter pin={shown!r} ignored (expected url-encoded settings such as "
                      "'toy=quad-repo&lr=0.02'); nothing is pinned"]
    values, warnings = parse_query(dict(pairs))
    repeated = sorted({k for k, _ in pairs if sum(k == j for j, _ in pairs) > 1})
    if repeated:
        warnings.append(f"{', '.join(repeated)} given more than once; using the last")
    return values, [f"In the pinned settings: {w}" for w in warnings]


def pin_of_query(query: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """(the pin's text, warnings) of a URL's parameters: the pin re-written from the
    values it parses to (so that what is kept is always valid), or None without one."""
    if PIN_KEY not in query:
        return None, []
    values, warnings = parse_pin(query[PIN_KEY])
    return (None if values is None else pin_text(values)), warnings
