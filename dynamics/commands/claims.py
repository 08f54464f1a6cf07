"""``python -m dynamics claims``: recompute the toy-scale claims of arXiv 2411.16085 and
arXiv 2510.12402 (dynamics.claims) and print, for each, the measured values, the claim
and whether it holds.  ``--json`` prints one object {claims: [...], settings: {...}}.
"""
from __future__ import annotations

import dataclasses
import time

from dynamics.claims import CHECKS, ClaimSettings, run_claims
from dynamics.cli import print_json


def register(sub) -> None:
    p = sub.add_parser("claims", help="recompute the papers' toy-scale claims and say whether each holds",
                       description="Recompute each toy-scale claim of the cautious-optimizer papers: measured "
                                   "value, claim, test, and whether it holds (about 15 s).")
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
        else:
            lines.append(f"{indent}{key} = {value:.6g}" if isinstance(value, float) else f"{indent}{key} = {value}")
    return lines


def handle(args) -> int:
    settings = ClaimSettings()
    t0 = time.perf_counter()
    claims = run_claims(settings, args.only)
    seconds = time.perf_counter() - t0
    if args.json:
        print_json(dict(claims=[c.as_dict() for c in claims], settings=dataclasses.asdict(settings),
                        seconds=seconds))
        return 0
    for c in claims:
        print(f"[{'HOLDS' if c.holds else 'DOES NOT HOLD'}] {c.key} ({c.source})")
        print(f"  claim: {c.claim}")
        print(f"  test:  {c.test}")
        print("  measured:")
        print("\n".join(_numbers(c.measured)))
        if c.note:
            print(f"  note:  {c.note}")
    held = sum(c.holds for c in claims)
    print(f"{held} of {len(claims)} claims hold ({seconds:.1f} s)")
    return 0

