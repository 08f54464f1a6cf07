"""``python -m dynamics claims``: the claims of arXiv 2411.16085v4 (Cautious Optimizers)
and arXiv 2510.12402v2 (Cautious Weight Decay) as the papers state them, each
recomputed on this project's toys (dynamics.claims) with its source, quote, test,
numbers and a computed verdict: holds, does not hold, or holds only under a stated
condition.  Project observations are labelled as such.  ``--json`` prints one object
{claims: [one object per claim], counts, settings, seconds}.
"""
from __future__ import annotations

import dataclasses
import time

from cli.options import print_json
from dynamics.claims import CHECKS, VERDICTS, ClaimSettings, run_claims
from dynamics.claims_base import MARK, plain, written_parts



def register(sub) -> None:
    p = sub.add_parser("claims", help="the papers' claims as stated, recomputed, each with a verdict",
                       description="Recompute the claims of the cautious-optimizer papers as they state them: "
                                   "source, quote, test, measured numbers and a verdict (holds / does not hold / "
                                   "holds only under a condition), project observations labelled apart "
                                   "(about a minute).")
    p.add_argument("--only", action="append", choices=tuple(CHECKS), metavar="CHECK",
                   help=f"run only this check (repeatable): {', '.join(CHECKS)}")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    p.set_defaults(handler=handle)


def _numbers(measured: dict, indent: str = "    ") -> list[str]:
    lines = []
    for key, value in measured.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines += _numbers(value, indent + "  ")
        elif isinstance(value, float):
            lines.append(f"{indent}{key} = {value:.6g}")
        elif isinstance(value, list) and value and all(isinstance(v, float) for v in value):
            lines.append(f"{indent}{key} = [{', '.join(f'{v:.6g}' for v in value)}]")
        else:
            lines.append(f"{indent}{key} = {value}")
    return lines


def report(claims: list[dict], seconds: float) -> str:
    """The text report: per claim its verdict, id, kind, source, quote, statement,
    condition, test, measured numbers and note; then the counts."""
    out = []
    for c in claims:
        where = c["source"] if c["source"].startswith(c["kind"]) else f"{c['kind']}; {c['source']}"
        out.append(f"[{MARK[c['verdict']]} {c['verdict'].upper()}] {c['id']}  ({where})")
        out += [f"  {part + ':':10s} {text}" for part, text in written_parts(c)]
        out.append("  measured:")
        out += _numbers(c["measured"])
        if c["note"]:
            out.append(f"  note:      {c['note']}")
    counts = {v: sum(c["verdict"] == v for c in claims) for v in VERDICTS}
    out.append(f"{len(claims)} claims: " + ", ".join(f"{n} {v}" for v, n in counts.items())
               + f" ({seconds:.1f} s)")
    return "\n".join(out)


def handle(args) -> int:
    settings = ClaimSettings()
    t0 = time.perf_counter()
    claims = [c.as_dict() for c in run_claims(settings, args.only)]
    seconds = time.perf_counter() - t0
    if args.json:
        counts = {v: sum(c["verdict"] == v for c in claims) for v in VERDICTS}
        print_json(dict(claims=claims, counts=counts, settings=plain(dataclasses.asdict(settings)),
                        seconds=seconds))
        return 0
    print(report(claims, seconds))
    return 0
