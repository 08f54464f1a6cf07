"""The settings of an optimizer run, each defined once: its name, kind, default, valid
range or choices, help text, command-line flag and URL key.

The command line (cli.options), figure configuration files (dynamics.configfile) and
the app (ui.state, ui.sidebar) all read these ``Setting``s, so a default or a valid
range cannot differ between them unless a setting says so itself (``app_default``:
the value of the app's opening view, with its reason).

Defaults of Setup and Hyper fields are read from dynamics.config (the dataclass and
HYPER_DEFAULTS); a setting whose default depends on the optimizer (beta2) has the
default None, "the optimizer's own", resolved by ``optimizer_default``.

``RUN_OPTIONS`` are the options every command that runs an optimizer shares
(cli.options.add_run_options; ``SWITCHES``: --clip-norm C both sets clip_norm and turns
clipping on; the settings of a feature that is off (a constant schedule, no clipping,
no SAM) are left out of the command line's config, ``quiet_defaults``); lion_sign,
sign_tau, noise_sigma and seed are added by
the run and sweep commands that use them, rise_rel (how large a loss rise must be to
count, dynamics.rollout.loss_rises) by the run command (cli.options.add_setting, same
schema).

Conventions (docs/theory.md, Section 1): w_{t+1} = w_t - lr u_t; ``beta`` is the
momentum of gdm/nesterov and b1 of the Adam family and lion; ``beta2`` is their b2.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from dynamics.config import (COMPENSATIONS, DECAY_MODES, DTYPES, HYPER_DEFAULTS, LION_SIGNS, MASKS, NOISE_KINDS,
                             OPTIMIZERS, SCHEDULES, Hyper, Setup)
from dynamics.noise import SEED_LIMIT
from dynamics.optimizers import REGISTRY, optimizer_summaries
from dynamics.rollout import RISE_REL

# An optimizer's own defaults come from its registry entry (e.g. Lion's b2 = 0.99, the
# paper's and optax's), per setting: {setting: {optimizer: value}}.
OPTIMIZER_DEFAULTS: dict[str, dict[str, float]] = {
    name: {opt: spec.defaults[name] for opt, spec in REGISTRY.items() if name in spec.defaults}
    for name in sorted({key for spec in REGISTRY.values() for key in spec.defaults})
}
GROUPS = {"optimizer": "optimizer (w_{t+1} = w_t - lr * u_t)", "caution": "caution (arXiv 2411.16085)",
          "decay": "weight decay (arXiv 2510.12402)", "run": "run", "flow": "flow", "noise": "gradient noise",
          "sam": "sharpness-aware minimization (arXiv 2010.01412)",
          "schedule": "learning-rate schedule (step t uses lr f(t-1); lr is the peak)",
          "clip": "gradient clipping (before the optimizer and the cautious mask)"}
_SETUP_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Setup)}
_DEFAULTS = {**_SETUP_DEFAULTS, **HYPER_DEFAULTS}         # the general default of each Setup and Hyper field
_NO_DEFAULT = object()


def optimizer_default(name: str, optimizer: str) -> Any:
    """The default of setting ``name`` for ``optimizer``: the optimizer's own where it
    has one (OPTIMIZER_DEFAULTS), else the setting's general default."""
    own = OPTIMIZER_DEFAULTS.get(name, {})
    return own[optimizer] if optimizer in own else _DEFAULTS[name]


@dataclasses.dataclass(frozen=True)
class Setting:
    """One run setting.

    name: its field in Setup or Hyper (``target``), or a per-run value (``run``: steps,
    seed).  kind: float, int, bool or choice.  default: None when it depends on the
    optimizer (``optimizer_default``).  Valid values: ``choices``, or numbers with
    ``lo`` <= x (``lo < x`` when ``lo_open``) and x <= ``hi`` (x < hi when ``hi_open``),
    finite.  flag: the command-line option (its dest is the key of the CLI's JSON
    ``config``); url: the app's URL and session key (None: not an app field).
    app_lo, app_hi: the app's bounds for a number (closed, inside the valid range).
    app_default: the app's opening value where it differs on purpose, ``app_reason`` says why.
    """

    name: str
    kind: str
    default: Any
    help: str
    flag: str | None
    url: str | None
    target: str
    group: str
    choices: tuple = ()
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    app_lo: float | None = None
    app_hi: float | None = None
    app_default: Any = _NO_DEFAULT
    app_reason: str = ""

    @property
    def dest(self) -> str:
        """The argparse dest of the flag (--adam-eps: adam_eps), the key in the CLI's config."""
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def opening(self) -> Any:
        """The app's default: ``app_default`` where given, else ``default``."""
        return self.default if self.app_default is _NO_DEFAULT else self.app_default

    def default_for(self, optimizer: str) -> Any:
        """The default for ``optimizer`` (the optimizer's own when ``default`` is None)."""
        return optimizer_default(self.name, optimizer) if self.default is None else self.default

    def rule(self) -> str:
        """The valid values in words: "in [0, 1)", "> 0", "an integer >= 1", "one of a, b"."""
        if self.kind == "choice":
            return f"one of {', '.join(map(str, self.choices))}"
        if self.kind == "bool":
            return "true or false"
        lo, hi = (f"{x:g}" if isinstance(x, float) else str(x) for x in (self.lo, self.hi))
        if self.hi is None:
            text = f"{'>' if self.lo_open else '>='} {lo}"
        else:
            text = f"in {'(' if self.lo_open else '['}{lo}, {hi}{')' if self.hi_open else ']'}"
        return f"an integer {text}" if self.kind == "int" else text

    def cli_help(self) -> str:
        """The --help text of the option: the help, the valid values and the default."""
        if self.kind == "bool":
            return self.help
        if self.default is None:
            own = ", ".join(f"{v:g} for {k}" for k, v in OPTIMIZER_DEFAULTS[self.name].items())
            default = f"the optimizer's own: {own}, else {_DEFAULTS[self.name]:g}"
        else:
            default = f"{self.default:g}" if self.kind == "float" else self.default
        rule = "" if self.kind == "choice" else f"; {self.rule()}"
        return f"{self.help}{rule} (default {default})"

    def problem(self, value: Any) -> str | None:
        """None if ``value`` is valid, else "must be <rule>, got <value>"."""
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        shown = shown if len(shown) <= 40 else f"{shown[:30]}... ({len(shown)} characters)"
        if self.kind == "choice":
            ok = value in self.choices
        elif self.kind == "bool":
            ok = isinstance(value, bool)
        elif isinstance(value, bool) or not isinstance(value, int if self.kind == "int" else (int, float)):
            ok = False
        else:
            ok = (math.isfinite(value) and (value > self.lo if self.lo_open else value >= self.lo)
                  and (self.hi is None or (value < self.hi if self.hi_open else value <= self.hi)))
        numeric = self.kind in ("float", "int") and isinstance(value, (int, float)) and not isinstance(value, bool)
        finite = "finite and " if numeric and not math.isfinite(value) else ""
        return None if ok else f"must be {finite}{self.rule()}, got {shown}"


def _setting(name: str, flag: str | None, url: str | None, group: str, help: str, **rest) -> Setting:
    """A Setting whose kind and default come from Setup / HYPER_DEFAULTS (or ``default``)."""
    target = "setup" if name in _SETUP_DEFAULTS else "hyper" if name in HYPER_DEFAULTS else "run"
    default = rest.pop("default", None if name in OPTIMIZER_DEFAULTS else _DEFAULTS.get(name))
    kind = rest.pop("kind", "choice" if "choices" in rest else "bool" if isinstance(default, bool) else "float")
    return Setting(name, kind, default, help, flag, url, target, group, **rest)


def _unit(name, flag, url, group, help, **rest):        # a number in [0, 1)
    return _setting(name, flag, url, group, help, lo=0.0, hi=1.0, hi_open=True, app_lo=0.0, app_hi=0.9999, **rest)


SETTINGS: dict[str, Setting] = {s.name: s for s in [
    _setting("optimizer", "--optimizer", "opt", "optimizer", choices=OPTIMIZERS, help=optimizer_summaries()),
    _setting("dampening", "--dampening", "dampening", "optimizer", "gdm with s = beta s + (1-beta) g"),
    _setting("cautious", "--cautious", None, "caution", "apply the cautious mask: u <- alpha phi(u*g) u"),
    _setting("mask", "--mask", "mask", "caution", choices=MASKS, help=(
        "elementwise: 1[u_i g_i > 0]; elementwise-ge: >= 0; inner: 1[u.g >= 0]; "
        "threshold: 1[g.u >= -(mu lr/2)|u|^2]; smooth: sigmoid(u_i g_i / tau)")),
    _setting("compensation", "--compensation", "comp", "caution", choices=COMPENSATIONS,
             help="none: alpha = 1; mean: 1/max(mean phi, 1e-3); count: d/(nnz phi + 1)"),
    _setting("decay", "--weight-decay-mode", "decay", "decay", choices=DECAY_MODES,
             help="none; decoupled: u += wd w; cautious: u += wd 1[u w >= 0] w"),
    _setting("sam", "--sam", "sam", "sam", "SAM: the base optimizer is fed grad L(w + rho g/|g|), g = grad L(w) "
             "(two gradients per step; a cautious mask still compares u with g)"),
    _setting("rho", "--rho", "rho", "sam", "SAM's radius rho (read with --sam)", lo=0.0, app_lo=0.0, app_hi=10.0),
    _setting("wd", "--wd", "wd", "decay", "weight-decay strength lambda", lo=0.0, app_lo=0.0, app_hi=100.0),
    _setting("lr", "--lr", "lr", "optimizer", "step size eps", lo=0.0, lo_open=True, app_lo=1e-6, app_hi=100.0),
    _unit("beta", "--beta", "beta", "optimizer", "momentum: gdm/nesterov beta, adam/lion b1", app_default=0.99,
          app_reason="the opening view is the paper's Fig. 2 setting (lr 0.01, beta 0.99): GDM oscillates"),
    _unit("beta2", "--beta2", "beta2", "optimizer", "adam/lion b2, rmsprop/adagrad's decay"),
    _setting("adam_eps", "--adam-eps", "adam_eps", "optimizer", "adam's e in m/(sqrt(v)+e)",
             lo=0.0, app_lo=0.0, app_hi=1.0),
    _setting("tau", "--tau", "tau", "caution", "smooth-mask temperature", lo=0.0, lo_open=True,
             app_lo=1e-6, app_hi=10.0),
    _setting("mu", "--mu", "mu", "caution", "threshold-mask smoothness constant", lo=0.0, app_lo=0.0, app_hi=1e4),
    _setting("steps", "--steps", "steps", "run", "number of steps T", kind="int", default=1000, lo=1,
             app_lo=1, app_hi=5000),
    _setting("dtype", "--dtype", "dtype", "run", "floating point precision", choices=DTYPES),
    _setting("rise_rel", "--rise-rel", "rise_rel", "run", "a loss rise L(w_t) - L(w_{t-1}) counts only above "
             "this times max(|L(w_0)|, |L(w_0) - L*|), so that rises negligible at the run's scale (rounding) are not "
             "counted; 0 counts every rise",
             default=RISE_REL, lo=0.0, hi=1.0, app_lo=0.0, app_hi=1.0),
    _setting("bias_correction", None, None, "run",
             "adam's bias-corrected moments m/(1-b1^t), v/(1-b2^t) (off: run --no-bias-correction)"),
    _setting("lion_sign", "--lion-sign", "o_sign", "flow", choices=LION_SIGNS,
             help="lion's sign(c), or smooth tanh(c/sign-tau) (flows only)"),
    _setting("sign_tau", "--sign-tau", "o_sign_tau", "flow", "smooth-sign temperature", lo=0.0, lo_open=True,
             app_lo=1e-6, app_hi=1.0),
    _setting("noise", None, None, "noise", choices=NOISE_KINDS,
             help="gaussian: steps use g + sigma z_t (on when noise_sigma > 0)"),
    _setting("noise_sigma", "--noise-sigma", "noise_sigma", "noise", "steps use g + sigma z_t, z_t ~ N(0, I)",
             lo=0.0, app_lo=0.0, app_hi=100.0),
    _setting("seed", "--seed", "seed", "noise", "seed of the gradient noise", kind="int", default=0, lo=0,
             hi=SEED_LIMIT, hi_open=True, app_lo=0, app_hi=SEED_LIMIT - 1),
    _setting("schedule", "--schedule", "schedule", "schedule", choices=SCHEDULES, help=(
        "constant: f = 1; warmup-cosine: linear 0 -> 1 over --warmup steps, then cosine to --lr-final at T; "
        "step: f = --decay-factor ^ floor(t / --decay-every); one-cycle: cosine 1/25 -> 1 over --warmup steps, "
        "then cosine down to 4e-6 at T (optax's schedules)")),
    _setting("warmup", "--warmup", "warmup", "schedule", "warmup steps W of warmup-cosine and one-cycle (at most T)",
             kind="int", default=100, lo=0, app_lo=0, app_hi=5000),
    _setting("lr_final", "--lr-final", "lr_final", "schedule", "warmup-cosine's final factor F (lr_T = F lr)",
             lo=0.0, hi=1.0, app_lo=0.0, app_hi=1.0),
    _setting("decay_every", "--decay-every", "decay_every", "schedule", "step schedule: steps K between decays",
             kind="int", default=100, lo=1, app_lo=1, app_hi=5000),
    _setting("decay_factor", "--decay-factor", "decay_factor", "schedule", "step schedule: factor gamma per decay",
             lo=0.0, lo_open=True, hi=1.0, app_lo=1e-4, app_hi=1.0),
    _setting("clip", None, "clip", "clip", "clip the gradient to global norm clip_norm (on when --clip-norm is given)"),
    _setting("clip_norm", "--clip-norm", "clip_norm", "clip", "clip the gradient: g <- g min(1, c/|g|) with this c",
             lo=0.0, lo_open=True, app_lo=1e-6, app_hi=1e6),
]}
RUN_OPTIONS = ("optimizer", "dampening", "cautious", "mask", "compensation", "decay", "wd", "lr", "beta", "beta2",
               "adam_eps", "tau", "mu", "steps", "dtype", "schedule", "warmup", "lr_final", "decay_every",
               "decay_factor", "clip_norm", "sam", "rho")     # the options of every command that runs an optimizer
SWITCHES = {"clip_norm": "clip"}     # a number whose option, when given, turns on a Setup switch (no flag of its own)
SCHEDULE_SETTINGS = ("schedule", "warmup", "lr_final", "decay_every", "decay_factor")
SAM_SETTINGS = ("sam", "rho")
BY_URL = {s.url: s for s in SETTINGS.values() if s.url is not None}


def of_config(config: dict[str, Any], target: str) -> dict[str, Any]:
    """The run options of the CLI's resolved ``config`` (keyed by dest) that are fields of
    ``target`` (setup or hyper), keyed by field name."""
    out = {s.name: config.get(s.dest, s.default) for s in map(SETTINGS.get, RUN_OPTIONS) if s.target == target}
    if target == "setup":
        out.update({switch: config.get(SETTINGS[name].dest) is not None for name, switch in SWITCHES.items()})
    return out


def quiet_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """The CLI's config without the settings of features that are off (as the noise
    settings enter it only for a noisy run): the schedule's settings when the schedule
    is constant, clip_norm when clipping is off, sam and rho without SAM.  ``of_config`` reads them back as
    their defaults."""
    drop = set(SCHEDULE_SETTINGS) if config.get("schedule", "constant") == "constant" else set()
    drop |= set(SAM_SETTINGS) if not config.get("sam") else set()
    drop |= {name for name in SWITCHES if config.get(SETTINGS[name].dest) is None}
    return {k: v for k, v in config.items() if k not in {SETTINGS[n].dest for n in drop}}


def setup_hyper_of(values: dict[str, Any]) -> tuple[Setup, Hyper]:
    """The Setup and Hyper (plain floats) of ``values``, a dict keyed by setting name
    holding at least the Setup fields and Hyper numbers wanted (missing ones take their
    defaults; a beta2 of None the optimizer's own)."""
    setup = Setup(**{k: v for k, v in values.items() if k in _SETUP_DEFAULTS})
    numbers = {k: float(v) for k, v in values.items() if k in HYPER_DEFAULTS and v is not None}
    numbers.setdefault("beta2", optimizer_default("beta2", setup.optimizer))
    return setup, Hyper(**{**HYPER_DEFAULTS, **numbers})
