"""Figure configurations as JSON files that load back to the same figure.

A saved file is ``{"dynamics_figure_config": 1, "versions": {...}, "figure": {...}}``:
``figure`` is the full configuration (plain JSON: numbers, strings, lists, objects;
floats are written with Python's shortest round-trip repr, so they read back bit for
bit) and ``versions`` records python, jax, jaxlib, optax, numpy, plotly, kaleido and
diffrax.  Loading checks the structure against a template (the preset's defaults: the
same keys, numbers where numbers are expected, ...) and reports each version that
differs from the running one as a warning: the numbers may then differ in the last
digits.

A *run* inside a figure configuration is one optimizer's settings: every field of
dynamics.config.Setup and of Hyper (``run_template``), plus a ``label``; its defaults
and valid values are those of dynamics.settings.
"""
from __future__ import annotations

import importlib.metadata
import json
import math
import platform
from typing import Any

from dynamics.config import Hyper, Setup, make_hyper
from dynamics.settings import SETTINGS, setup_hyper_of

FORMAT_KEY = "dynamics_figure_config"
FORMAT_VERSION = 1
PACKAGES = ("jax", "jaxlib", "optax", "numpy", "plotly", "kaleido", "diffrax")


class ConfigError(ValueError):
    """A configuration file that cannot be read or does not fit its template."""


def versions() -> dict[str, str]:
    """The running python and package versions."""
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def dumps(figure: dict[str, Any]) -> str:
    """The JSON text of a figure configuration, with the running versions."""
    payload = {FORMAT_KEY: FORMAT_VERSION, "versions": versions(), "figure": figure}
    return json.dumps(payload, indent=2, allow_nan=False) + "\n"


def save(figure: dict[str, Any], path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(dumps(figure))


def loads(text: str, source: str = "config") -> tuple[dict[str, Any], list[str]]:
    """(figure configuration, warnings) from JSON text; ConfigError if it is not one."""
    try:
        payload = json.loads(text, parse_constant=lambda c: _raise(f"{source}: {c} is not allowed"))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{source}: not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(payload, dict) or payload.get(FORMAT_KEY) != FORMAT_VERSION:
        raise ConfigError(f"{source}: not a figure configuration (expected the key {FORMAT_KEY!r} = "
                          f"{FORMAT_VERSION}; write one with --config-out)")
    figure = payload.get("figure")
    if not isinstance(figure, dict):
        raise ConfigError(f"{source}: 'figure' must be an object")
    saved = payload.get("versions") or {}
    now = versions()
    warnings = [f"{source} was written with {pkg} {saved[pkg]}, running {now[pkg]}: numbers may differ slightly"
                for pkg in now if pkg in saved and saved[pkg] != now[pkg]]
    return figure, warnings


def load(path: str) -> tuple[dict[str, Any], list[str]]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from None
    return loads(text, path)


def _raise(message: str):
    raise ConfigError(message)


def _kind(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__


def check_like(value, template, where: str = "figure") -> None:
    """ConfigError unless ``value`` has the shape of ``template``: objects with exactly
    the template's keys (recursively), lists whose items are like the template's first
    item, and scalars of the template's kind (a ``width`` may be a number or a string:
    "single", "double" or pixels; a null stands for an unset number: null or a number).
    Finite numbers only."""
    kind, want = _kind(value), _kind(template)
    if want == "object":
        if kind != "object":
            raise ConfigError(f"{where}: expected an object, got {kind}")
        missing, unknown = sorted(set(template) - set(value)), sorted(set(value) - set(template))
        if missing or unknown:
            raise ConfigError(f"{where}: " + "; ".join(
                ([f"missing keys {missing}"] if missing else []) + ([f"unknown keys {unknown}"] if unknown else [])))
        for key in template:
            check_like(value[key], template[key], f"{where}.{key}")
    elif want == "list":
        if kind != "list":
            raise ConfigError(f"{where}: expected a list, got {kind}")
        if not value and template:
            raise ConfigError(f"{where}: must not be empty")
        for i, item in enumerate(value):
            check_like(item, template[0], f"{where}[{i}]")
    elif kind != want and not (where.endswith(".width") and {kind, want} <= {"number", "string"}) and not (
            (want, kind) == ("null", "number")):
        raise ConfigError(f"{where}: expected a {want}, got {kind} {value!r}")
    if kind == "number" and not math.isfinite(value):
        raise ConfigError(f"{where}: must be finite, got {value!r}")


# ----------------------------------------------------------------------------- runs

RUN_SETTINGS = tuple(s for s in SETTINGS.values() if s.target in ("setup", "hyper"))


def run_template(label: str = "", **overrides) -> dict[str, Any]:
    """A run: label, every Setup field and every Hyper field (dynamics.settings, the
    defaults of ``overrides``' optimizer), with ``overrides``."""
    optimizer = overrides.get("optimizer", SETTINGS["optimizer"].default)
    run = {"label": label, **{s.name: s.default_for(optimizer) for s in RUN_SETTINGS}}
    unknown = set(overrides) - set(run)
    if unknown:
        raise ValueError(f"unknown run settings {sorted(unknown)}")
    run.update(overrides)
    return run


def setup_hyper(run: dict[str, Any]) -> tuple[Setup, Hyper]:
    """The Setup and Hyper of a run; ConfigError naming the bad value and the allowed ones otherwise."""
    for s in RUN_SETTINGS:
        problem = s.problem(run[s.name])
        if problem is not None:
            raise ConfigError(f"run {run['label']!r}: {s.name} {problem}")
    setup, hyper = setup_hyper_of(run)
    return setup, make_hyper(setup.dtype, **hyper._asdict())
