"""A page of the app opened the way a browser opens it, without a browser: Streamlit's
own protocol on the server's websocket (one BackMsg asking for a run with the URL's
query string, then the ForwardMsgs of that run until it has finished).  The server does
all of a browser session's work; nothing is drawn.

``python -m ui.warmup URL`` opens the first page once, right after the server has
started (``python3 dev.py app`` does), so that the imports (about 3 s of JAX, Plotly
and the app) and the first page's programs (traced in this process, compiled or loaded
from the compilation cache, dynamics.compile_cache) are done before the first visitor
arrives.  The soak test (tests/test_soak.py) opens its sixteen sessions with ``visit``.
"""
from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

TIMEOUT_S = 600.0           # the longest a visit may take


@dataclass
class Visit:
    """What one run of a page sent: its number of figures and the text of its
    exceptions, errors and warnings (a refusal by the work budget is a warning)."""
    figures: int = 0
    problems: list[str] = field(default_factory=list)


async def visit(url: str, query: str = "", timeout: float = TIMEOUT_S) -> Visit:
    """Open the page at ``url`` (http://host:port/) with ``query`` (without '?') as a
    new session and wait until its first run has finished."""
    host = url.split("//", 1)[-1].split("/", 1)[0]
    seen = Visit()
    async with asyncio.timeout(timeout):
        async with websockets.connect(f"ws://{host}/_stcore/stream", subprotocols=["streamlit"],
                                      max_size=None, open_timeout=60) as ws:
            msg = BackMsg()
            msg.rerun_script.query_string = query
            await ws.send(msg.SerializeToString())
            async for raw in ws:
                fwd = ForwardMsg.FromString(raw)
                if fwd.WhichOneof("type") == "script_finished":
                    return seen
                if fwd.WhichOneof("type") == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                    _note(fwd.delta.new_element, seen)
    raise ConnectionError("the server closed the session before the page had run")


def _note(element, seen: Visit) -> None:
    kind = element.WhichOneof("type")
    seen.figures += kind == "plotly_chart"
    if kind == "exception":
        seen.problems.append(f"exception: {element.exception.message[:300]}")
    elif kind == "alert" and element.alert.format in (element.alert.ERROR, element.alert.WARNING):
        seen.problems.append(f"{element.alert.body[:300]}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ui.warmup http://HOST:PORT/", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        seen = asyncio.run(visit(argv[0]))
    except (OSError, TimeoutError, websockets.WebSocketException) as err:
        print(f"warm-up: the first page could not be opened: {err}", file=sys.stderr)
        return 1
    what = "; ".join(seen.problems) if seen.problems else f"{seen.figures} figures"
    print(f"warm-up: first page drawn on the server in {time.monotonic() - t0:.1f} s ({what})", flush=True)
    return 0 if not seen.problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
