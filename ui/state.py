"""The app's whole state as typed fields, its URL form, and the runs it asks for.

Every setting is a ``Field`` with a default and a valid range (or a list of choices).
The session-state key of a field is its name (the widget bound to it uses the same
key); in the URL a field appears under the same name, except the start point
(``start=X,Y``) and the toy's parameters (``p_<name>``, e.g. ``p_h1=2``).  Only values
that differ from their defaults are written, so a URL stays short and any subset of
parameters is a valid URL.  ``parse_query`` never raises: a value that is malformed,
out of range or unknown falls back to its default and produces a warning message.
The run settings' fields (lr, beta, beta2, mask, ...) are built from dynamics.settings,
which holds their defaults, bounds and help; beta2 may be unset (None, absent from the
URL): each optimizer then runs with its own b2 (Adam 0.999, Lion 0.99).

Conventions (docs/theory.md, Section 1): w_{t+1} = w_t - lr u_t; ``beta`` is the momentum of
gdm/nesterov (undampened heavy ball s = beta s + g unless ``dampening``) and b1 of
adam/lion; ``beta2`` is b2 of adam/lion.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dynamics.config import OPTIMIZERS, Hyper, Setup, make_hyper
from dynamics.decay_study import STUDY_TOYS
from dynamics.flows import INITS
from dynamics.settings import BY_URL, SETTINGS, Setting, setup_hyper_of
from dynamics.solvers import SOLVERS
from toys import TOYS, Toy, get_toy
from toys.catalog import START_BOUND, param_bounds
from toys.expr import ExprError, expression_toy
from viz.animation import SPEEDS
from viz.theme import optimizer_name

VARIANTS = ("both", "base", "cautious")
LR_SCALES = ("log", "linear")
GRID_SIZES = (16, 32, 64, 128, 256)
NAMES = {name: optimizer_name(name) for name in OPTIMIZERS}     # display names (viz.theme): GDM, C-GDM, ...
CUSTOM = "custom"                       # the toy selector's entry for a typed objective (field ``expr``)
CUSTOM_PREFIX = "custom:"               # toy key of a typed objective: CUSTOM_PREFIX + its text
DEFAULT_EXPR = "(1-x)^2 + 5*(y-x^2)^2"       # a gentle Rosenbrock: GDM at the default lr, beta converges
EXPR_URL_LIMIT = 65536                  # longest expr taken from a URL (the parser itself refuses more than 500)
BASIN_SIZES = (16, 32, 48, 64, 96, 128)
BASIN_PAIRS = ("cautious", "sam")      # the Basins tab compares the focus run with its cautious twin, or without/with SAM
LESSON_STEPS = 7                        # the Lesson tab's steps (ui.presets.LESSON)
NUMBER_CHARS = 40                       # longest number taken from a URL (an int of more digits is no setting)


@dataclasses.dataclass(frozen=True)
class Field:
    """A setting: kind is float, int, bool, choice, list (comma-separated choices) or
    text (any string of at most ``hi`` characters).  ``unset``: a number field whose
    default None means this (written as the empty string in a URL).  A run setting's
    field is ``Field.of`` its dynamics.settings Setting."""

    key: str
    kind: str
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    help: str = ""
    unset: str = ""

    @classmethod
    def of(cls, setting: Setting) -> Field:
        """The app's field of a run setting: its URL key, the app's default and bounds."""
        return cls(setting.url, setting.kind, setting.opening, setting.app_lo, setting.app_hi, setting.choices,
                   setting.help, "the optimizer's own" if setting.opening is None else "")

    def parse(self, text: str) -> Any:
        """The value written as ``text`` in a URL; ValueError with a reason otherwise."""
        if self.unset and text == "":
            return None
        if self.kind == "bool":
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if self.kind == "choice":
            value = _number(text, int) if isinstance(self.default, int) else text
            if value not in self.choices:
                raise ValueError(f"expected one of {', '.join(map(str, self.choices))}")
            return value
        if self.kind == "text":
            if len(text) > self.hi:
                raise ValueError(f"longer than {self.hi:g} characters")
            return text
        if self.kind == "list":
            items = tuple(x.strip() for x in text.split(","))
            bad = [x for x in items if x not in self.choices]
            if not text or bad or len(set(items)) != len(items):
                raise ValueError(f"expected distinct items from {', '.join(self.choices)}, comma-separated")
            return items
        number = _number(text, int if self.kind == "int" else float)
        if not math.isfinite(number) or not self.lo <= number <= self.hi:
            raise ValueError(f"expected a number in [{self.lo:g}, {self.hi:g}]")
        return number

    def format(self, value: Any) -> str:
        """The URL text of ``value`` (parse reads it back)."""
        if value is None:
            return ""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "list":
            return ",".join(value)
        if self.kind == "float":
            return repr(float(value))
        return str(value)        # text, int, choice


def _number(text: str, kind: type):
    try:
        if len(text) > NUMBER_CHARS:
            raise ValueError
        return kind(text)
    except ValueError:
        raise ValueError(f"expected {'an integer' if kind is int else 'a number'}") from None


def _f(key, default, lo, hi):
    return Field(key, "float", default, lo, hi)


def _run(*keys: str) -> list[Field]:
    """The fields of the run settings with these URL keys (dynamics.settings)."""
    return [Field.of(BY_URL[key]) for key in keys]


def _i(key, default, lo, hi):
    return Field(key, "int", default, lo, hi)


def _c(key, default, choices):
    return Field(key, "choice", default, choices=tuple(choices))


FIELDS: dict[str, Field] = {f.key: f for f in [
    _c("toy", "quad-repo", tuple(TOYS) + (CUSTOM,)),
    Field("expr", "text", DEFAULT_EXPR, hi=EXPR_URL_LIMIT),
    Field("opt", "list", (SETTINGS["optimizer"].opening,), choices=SETTINGS["optimizer"].choices,
          help=SETTINGS["optimizer"].help),
    _c("variants", "both", VARIANTS),
    Field("focus", "choice", "", choices=("",) + tuple(
        ("C-" if c else "") + NAMES[o] for o in OPTIMIZERS for c in (False, True))),
    *_run("dampening", "lr", "beta", "beta2", "adam_eps", "steps", "dtype", "mask", "comp", "tau", "mu", "decay",
          "wd", "noise_sigma", "seed", "rise_rel", "sam", "rho", "schedule", "warmup", "lr_final", "decay_every",
          "decay_factor", "clip", "clip_norm"),
    Field("present", "bool", False),
    _f("r_lr_lo", 1e-3, 1e-6, 100.0),
    _f("r_lr_hi", 1.0, 1e-6, 100.0),
    _c("r_lr_scale", "log", LR_SCALES),
    _f("r_beta_lo", 0.0, 0.0, 0.9999),
    _f("r_beta_hi", 0.99, 0.0, 0.9999),
    _c("r_n", 64, GRID_SIZES),
    _i("r_steps", 1000, 10, 5000),
    _i("r_seeds", 8, 1, 64),
    _c("d_toy", STUDY_TOYS[0], STUDY_TOYS),
    Field("d_cmask", "bool", False),
    _c("b_n", 48, BASIN_SIZES),
    _c("b_pair", "cautious", BASIN_PAIRS),
    _i("b_steps", 1000, 10, 5000),
    _c("o_solver", "rk4", SOLVERS),
    _i("o_substeps", 10, 1, 200),
    _c("o_init", "auto", INITS),
    *_run("o_sign", "o_sign_tau"),
    _f("o_rtol", 1e-6, 1e-12, 1e-1),
    _f("o_atol", 1e-9, 1e-14, 1e-1),
    _i("i_step", 0, 0, 5000),
    Field("i_zoom", "bool", True),
    _i("lesson", 1, 1, LESSON_STEPS),
    _c("a_speed", 100, SPEEDS),
    Field("a_loop", "bool", False),
]}

SPEC_SETTINGS = ("dampening", "mask", "compensation", "decay", "dtype", "lr", "beta", "beta2", "adam_eps", "wd",
                 "tau", "mu", "noise_sigma", "sam", "rho", "schedule", "warmup", "lr_final", "decay_every",
                 "decay_factor", "clip", "clip_norm")   # the run settings of a RunSpec (the flow's lion_sign,
                                                        # sign_tau: the Continuous time tab's own)
START_KEYS = ("sx", "sy")
PARAM_PREFIX = "p_"


def toy_of(key: str) -> Toy:
    """The toy of a toy key: a built-in toy's name, CUSTOM_PREFIX + an expression (the
    typed objective, toys.expr.expression_toy; ExprError for a bad one), or CUSTOM
    alone (the default expression: the typed objective's start, domain and parameters,
    which do not depend on the text)."""
    if key.startswith(CUSTOM_PREFIX):
        return expression_toy(key[len(CUSTOM_PREFIX):], name=key)
    if key == CUSTOM:
        return toy_of(CUSTOM_PREFIX + DEFAULT_EXPR)
    return get_toy(key)


def toy_key(values: Mapping[str, Any]) -> str:
    """The toy key of the state (see toy_of)."""
    return CUSTOM_PREFIX + values["expr"] if values["toy"] == CUSTOM else values["toy"]


def resolve_custom(values: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(values, None) unless the toy is the typed objective and its expression does not
    parse; then (values with the default toy, its parameters and start, the parser's
    message), so that the app runs on the default toy and shows the message."""
    if values["toy"] != CUSTOM:
        return dict(values), None
    try:
        toy_of(toy_key(values))
    except ExprError as err:
        default = FIELDS["toy"].default
        return {**values, **toy_defaults(default), "toy": default}, str(err)
    return dict(values), None


def param_key(name: str) -> str:
    return PARAM_PREFIX + name


def defaults(toy_name: str | None = None) -> dict[str, Any]:
    """Every value at its default (toy parameters and start of ``toy_name``)."""
    values = {k: f.default for k, f in FIELDS.items()}
    if toy_name is not None:
        values["toy"] = toy_name
    return {**values, **toy_defaults(values["toy"])}


def toy_defaults(toy_name: str) -> dict[str, Any]:
    """The start point, parameter values and rate-map step-size range of a toy, as state keys."""
    toy = toy_of(toy_name)
    out = {param_key(k): float(v) for k, v in toy.defaults.items()}
    out.update(sx=float(toy.start[0]), sy=float(toy.start[1]))
    out["r_lr_lo"], out["r_lr_hi"] = lr_range(toy_name)
    return out


@functools.lru_cache(maxsize=None)
def lr_range(toy_name: str) -> tuple[float, float]:
    """The default step-size axis of a rate map: up to 4 / lambda_max (heavy-ball
    stability needs eps lambda_max < 2 (1 + beta) < 4), lambda_max the largest Hessian
    eigenvalue at the toy's first minimiser, down to 1/100 of that (2 significant
    digits); (1e-3, 1) for a toy without minimiser."""
    toy = toy_of(toy_name)
    if not toy.has_minima():
        return 1e-3, 1.0
    p = toy.params()
    hess = jax.hessian(toy.value)(jnp.asarray(toy.minima(p)[0]), {k: jnp.asarray(v) for k, v in p.items()})
    hi = float(f"{4.0 / float(np.max(np.linalg.eigvalsh(np.asarray(hess)))):.2g}")
    return float(f"{hi / 100:.2g}"), hi


def _parse_start(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        x, y = (float(p) for p in parts)
    except ValueError:
        raise ValueError("expected two numbers X,Y") from None
    if not all(math.isfinite(v) and abs(v) <= START_BOUND for v in (x, y)):
        raise ValueError(f"expected two finite numbers of size at most {START_BOUND:g}")
    return x, y


def parse_query(query: Mapping[str, str], extra_keys: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[str]]:
    """(values, warnings) from URL parameters.  Missing keys take their defaults;
    malformed, out-of-range and unknown ones take their defaults with a warning.
    ``extra_keys``: other keys the caller reads itself (e.g. the view), not unknown."""
    warnings: list[str] = []

    def warn(key, text, reason, used):
        warnings.append(f"URL parameter {key}={text!r} ignored ({reason}); using {used}")

    toy_name = FIELDS["toy"].default
    if "toy" in query:
        try:
            toy_name = FIELDS["toy"].parse(query["toy"])
        except ValueError as err:
            warn("toy", query["toy"], err, f"the default toy {toy_name}")
    values = defaults(toy_name)
    toy = toy_of(toy_name)
    for key, text in query.items():
        if key in ("toy",) + extra_keys:
            continue
        if key in FIELDS:
            try:
                values[key] = FIELDS[key].parse(text)
            except ValueError as err:
                shown = FIELDS[key].format(values[key])
                warn(key, text, err, f"the default {shown}" if shown else FIELDS[key].unset)
        elif key == "start":
            try:
                values["sx"], values["sy"] = _parse_start(text)
            except ValueError as err:
                warn(key, text, err, f"the toy's start {values['sx']:g},{values['sy']:g}")
        elif key.startswith(PARAM_PREFIX) and key[len(PARAM_PREFIX):] in toy.defaults:
            lo, hi = param_bounds(toy_name, key[len(PARAM_PREFIX):])
            try:
                values[key] = Field(key, "float", 0.0, lo, hi).parse(text)
            except ValueError as err:
                warn(key, text, err, f"the toy's default {values[key]:g}")
        else:
            warnings.append(f"URL parameter {key!r} is unknown for toy {toy_name} and was ignored")
    labels = [spec.label for spec in runs_of(values)]
    if values["focus"] and values["focus"] not in labels:
        warnings.append(f"URL parameter focus={values['focus']!r} ignored (not one of the runs shown: "
                        f"{', '.join(labels)}); following the default run")
        values["focus"] = ""
    for lo, hi in (("r_lr_lo", "r_lr_hi"), ("r_beta_lo", "r_beta_hi")):
        if not values[lo] < values[hi]:
            warnings.append(f"URL parameters {lo}={values[lo]:g} and {hi}={values[hi]:g} need {lo} < {hi}; "
                            "using the defaults")
            base = defaults(toy_name)
            values[lo], values[hi] = base[lo], base[hi]
    return values, warnings


def to_query(values: Mapping[str, Any]) -> dict[str, str]:
    """The URL parameters of ``values``: those that differ from their defaults."""
    base = {**defaults(values["toy"]), "toy": FIELDS["toy"].default}     # the toy's own start and parameters
    out = {k: f.format(values[k]) for k, f in FIELDS.items() if values[k] != base[k]}
    if (values["sx"], values["sy"]) != (base["sx"], base["sy"]):
        out["start"] = f"{float(values['sx'])!r},{float(values['sy'])!r}"
    for key in base:
        if key.startswith(PARAM_PREFIX) and values[key] != base[key]:
            out[key] = repr(float(values[key]))
    return out


class RunSpec(NamedTuple):
    """Everything one trajectory depends on, as hashable plain values (a cache key):
    the run's Setup, its Hyper (plain floats; ``hyper_arrays`` for the arrays), the toy
    key and parameters, the start, the number of steps and the noise's seed."""

    setup: Setup
    hyper: Hyper
    toy: str
    toy_params: tuple
    start: tuple
    steps: int
    seed: int = 0

    @property
    def label(self) -> str:
        return ("C-" if self.setup.cautious else "") + NAMES[self.setup.optimizer]

    def setup_with(self, **changes) -> Setup:
        """The Setup with ``changes`` (e.g. the flow's lion_sign)."""
        return dataclasses.replace(self.setup, **changes)

    def hyper_arrays(self, **changes) -> Hyper:
        """The Hyper as arrays of the run's dtype, with ``changes`` (e.g. the flow's sign_tau)."""
        return make_hyper(self.setup.dtype, **{**self.hyper._asdict(), **changes})

    def twin(self, cautious: bool) -> RunSpec:
        """The same run, cautious or not."""
        return self._replace(setup=self.setup_with(cautious=cautious))

    @property
    def params(self) -> dict[str, float]:
        return dict(self.toy_params)


def toy_params(values: Mapping[str, Any]) -> dict[str, float]:
    toy = toy_of(values["toy"])
    return {k: float(values[param_key(k)]) for k in toy.defaults}


def runs_of(values: Mapping[str, Any]) -> list[RunSpec]:
    """A RunSpec for each optimizer of ``opt`` and each variant asked for: the base run
    first, then its cautious twin.  Dampening applies to gdm only; beta2 unset is each
    optimizer's own (dynamics.settings)."""
    kinds = {"both": (False, True), "base": (False,), "cautious": (True,)}[values["variants"]]
    params = tuple(sorted(toy_params(values).items()))
    shared = {name: values[SETTINGS[name].url] for name in SPEC_SETTINGS}
    shared["noise"] = "gaussian" if shared["noise_sigma"] > 0 else "none"
    out = []
    for name in values["opt"]:
        for cautious in kinds:
            setup, hyper = setup_hyper_of({**shared, "optimizer": name, "cautious": cautious,
                                           "dampening": bool(shared["dampening"]) and name == "gdm"})
            out.append(RunSpec(setup, hyper, toy=toy_key(values), toy_params=params,
                               start=(float(values["sx"]), float(values["sy"])), steps=int(values["steps"]),
                               seed=int(values["seed"])))
    return out


def focus_of(runs: list[RunSpec], focus: str) -> RunSpec:
    """The run the single-run views show: the one labelled ``focus``, else the first
    cautious run, else the first run."""
    for spec in runs:
        if spec.label == focus:
            return spec
    return next((spec for spec in runs if spec.setup.cautious), runs[0])
