"""The optimizer registry (dynamics/optimizers/): every spec is complete and consistent,
every consumer lists exactly the registered optimizers, and an optimizer's name lives in
its own module (issue 11: adding one is adding a module and its test)."""
from __future__ import annotations

import glob
import os
import re

import pytest

from dynamics.config import Setup
from dynamics import flows
from dynamics.optimizers import FLOW_OPTIMIZERS, OPTIMIZERS, REGISTRY, spec_of
from dynamics.optimizers.spec import COLOURS
from dynamics.rates import ANALYTIC_OPTIMIZERS
from viz.theme import COLOUR_VALUES, optimizer_colour

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Modules that name an optimizer as data, not as knowledge of it: a claim about GDM, a
# preset that runs Adam, the weight-decay study's three optimizers, a benchmark, the
# Lesson's sentences about GD and GDM.
DATA = ("dynamics/claims*.py", "*/presets.py", "figures/*.py", "dynamics/decay_study.py", "bench/*.py",
        "ui/lesson.py")
# The default optimizer of a run (gdm), written where the settings' defaults live.
DEFAULTS = ("dynamics/config.py", "dynamics/settings.py", "ui/state.py")


def _sources() -> list[str]:
    paths = glob.glob(os.path.join(ROOT, "**", "*.py"), recursive=True)
    rel = (os.path.relpath(p, ROOT) for p in paths)
    return sorted(p for p in rel if not p.startswith(("tests", ".venv", "docs")) and "/." not in p)


def _mentions(name: str) -> set[str]:
    pattern = re.compile(rf"([\"']){re.escape(name)}\1")
    out = set()
    for path in _sources():
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            if pattern.search(f.read()):
                out.add(path)
    return out


def _matches(path: str, patterns) -> bool:
    return any(glob.fnmatch.fnmatch(path, p) for p in patterns)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_an_optimizers_name_lives_in_its_own_module(name):
    own = f"dynamics/optimizers/{name}.py"
    mentions = _mentions(name)
    assert own in mentions
    knowledge = {p for p in mentions if not _matches(p, DATA + DEFAULTS)}
    assert knowledge == {own}, f"{name} is named outside its module in {sorted(knowledge - {own})}"
    if not mentions & {p for p in _sources() if _matches(p, DATA + DEFAULTS)}:
        assert len(mentions) <= 2


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_spec_is_complete(name):
    spec = spec_of(name)
    assert spec.name == name and os.path.exists(os.path.join(ROOT, "dynamics", "optimizers", f"{name}.py"))
    assert set(spec.colours) <= set(COLOURS) and spec.colours[0] != spec.colours[1]
    assert optimizer_colour(name) == COLOUR_VALUES[spec.colours[0]]
    eq = spec.equations(Setup(name))
    assert eq.update and eq.hamiltonian
    assert (eq.flow is not None) == (spec.flow is not None), "the Learn tab and ODE mode must agree on a flow"
    assert spec.closed_form is None or spec.homogeneous
    assert set(spec.uses) <= {"beta", "beta2", "adam_eps", "wd", "sign_tau"}
    assert spec.summary and spec.display


def test_names_orders_and_palette_are_consistent():
    assert len({s.display for s in REGISTRY.values()}) == len(REGISTRY)
    assert len({s.order for s in REGISTRY.values()}) == len(REGISTRY)
    assert set(COLOUR_VALUES) == set(COLOURS)
    assert flows.FLOW_OPTIMIZERS == FLOW_OPTIMIZERS == tuple(n for n in OPTIMIZERS if spec_of(n).flow is not None)
    assert set(ANALYTIC_OPTIMIZERS) == {n for n in OPTIMIZERS if spec_of(n).closed_form is not None}
    assert "adamax" in FLOW_OPTIMIZERS


def test_unknown_optimizer_is_a_one_line_error():
    with pytest.raises(ValueError, match="unknown optimizer 'sgd' \\(allowed: gd, gdm"):
        spec_of("sgd")
    with pytest.raises(ValueError, match="optimizer must be one of gd, gdm, .*adamax; got 'sgd'"):
        Setup("sgd")


def test_the_cli_offers_exactly_the_registered_optimizers():
    from cli.main import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for command in ("run", "sweep"):
        opt = next(a for a in sub.choices[command]._actions if a.dest == "optimizer")
        assert tuple(opt.choices) == OPTIMIZERS
