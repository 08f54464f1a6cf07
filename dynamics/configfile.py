"""Figure configurations as JSON files that load back to the same figure.

A saved file is ``{"dynamics_figure_config": 1, "versions": {...}, "figure": {...}}``:
``figure`` is the full configuration (plain JSON: numbers, strings, lists, objects;
floats are written with Python's shortest round-trip repr, so they read back bit for
bit) and ``versions`` records python, jax, jaxlib, optax, numpy, plotly, kaleido and
diffrax.  Loading checks the structure against a template (the preset's defaults: the
same keys, numbers where numbers are expected, ...) and reports each version that
differs from the running one as a warning: the numbers may then differ in the last
digits.

Every configuration file, of the command line (``figure --config``, ``animate
--config``) and of the app's upload, is read here within limits, so a hostile file is
one line naming its field (ConfigError), never a traceback: ``read`` opens only a
regular file (checked before opening; the open cannot block) and reads at most
SIZE_LIMIT bytes, ``decode`` wants UTF-8, ``parse`` refuses nesting deeper than
DEPTH_LIMIT (counted on the text before json parses it) and numbers that are not
finite or longer than NUMBER_LIMIT characters (naming where they are), ``loads`` wants
``versions`` an object of strings, and ``check_like`` (the structure against a
template) reports unknown keys as warnings and drops them.  The ranges of the values
are those of dynamics.settings and figures.presets.validate.

A *run* inside a figure configuration is one optimizer's settings: every field of
dynamics.config.Setup and of Hyper (``run_template``), plus a ``label``; its defaults
and valid values are those of dynamics.settings.  The learning-rate schedule's,
clipping's and SAM's settings (OPTIONAL_RUN_SETTINGS) are optional: written only when
given, read as their defaults when absent, so files written before they existed still load.
"""
from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import re
import stat
from typing import Any, NamedTuple

from dynamics.config import Hyper, Setup, make_hyper
from dynamics.settings import SAM_SETTINGS, SCHEDULE_SETTINGS, SETTINGS, setup_hyper_of

FORMAT_KEY = "dynamics_figure_config"
FORMAT_VERSION = 1
PACKAGES = ("jax", "jaxlib", "optax", "numpy", "plotly", "kaleido", "diffrax")
SIZE_LIMIT = 2 * 2**20          # bytes: the largest file read (the app's upload limit, .streamlit/config.toml)
DEPTH_LIMIT = 32                # levels of [ ] and { }: a configuration has 4
NUMBER_LIMIT = 40               # characters of one number: 1e39 is larger than any setting's range
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET = re.compile(r"[\[\]{}]")


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


def read(path: str) -> str:
    """The text of the configuration file ``path``: only a regular file of at most
    SIZE_LIMIT bytes of UTF-8 (a device, FIFO or folder is refused before it is opened,
    and the open cannot block); ConfigError otherwise."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError(f"{path}: not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):       # replaced since the check
                raise ConfigError(f"{path}: not a regular file")
            data = f.read(SIZE_LIMIT + 1)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read it ({err.strerror})") from None
    return decode(data, path)


def decode(data: bytes, source: str = "config") -> str:
    """``data`` as text: at most SIZE_LIMIT bytes of UTF-8; ConfigError otherwise."""
    check_size(len(data), source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text (a JSON configuration is expected)") from None


def check_size(size: int, source: str) -> None:
    """ConfigError when a file of ``size`` bytes (or characters) is larger than SIZE_LIMIT."""
    if size > SIZE_LIMIT:
        raise ConfigError(f"{source}: larger than {SIZE_LIMIT // 2**20} MiB; a configuration is a few kB")


class _BadNumber(NamedTuple):
    """A number the parser refused (NaN, infinite, or longer than NUMBER_LIMIT
    characters), kept as text until its place in the file is known."""

    text: str


def _number(kind: type):
    """A json parse_int / parse_float hook that keeps bad numbers as _BadNumber."""
    def parse(text: str):
        if len(text) > NUMBER_LIMIT:
            return _BadNumber(text)
        value = kind(text)
        return value if math.isfinite(value) else _BadNumber(text)
    return parse


def nesting(text: str) -> int:
    """The deepest nesting of [ ] and { } in JSON text, outside strings."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _bad_number(value, where: str) -> tuple[str, str] | None:
    """(path, text) of the first _BadNumber in a parsed value, or None."""
    if isinstance(value, _BadNumber):
        return where, value.text
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _bad_number(item, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]")
        if found:
            return found
    return None


def parse(text: str, source: str = "config") -> Any:
    """The JSON value of ``text``, within the limits (SIZE_LIMIT characters, DEPTH_LIMIT
    levels, finite numbers of at most NUMBER_LIMIT characters); ConfigError otherwise."""
    check_size(len(text), source)
    if nesting(text) > DEPTH_LIMIT:
        raise ConfigError(f"{source}: nested deeper than {DEPTH_LIMIT} levels")
    try:
        value = json.loads(text, parse_int=_number(int), parse_float=_number(float), parse_constant=_BadNumber)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{source}: not valid JSON ({err.msg} at line {err.lineno})") from None
    found = _bad_number(value, "")
    if found:
        where, number = found
        shown = number if len(number) <= 20 else f"{number[:12]}... ({len(number)} characters)"
        raise ConfigError(f"{source}: {where.lstrip('.') or 'the file'}: the number {shown} is not allowed "
                          f"(finite numbers of at most {NUMBER_LIMIT} characters)")
    return value


def loads(text: str, source: str = "config") -> tuple[dict[str, Any], list[str]]:
    """(figure configuration, warnings) from JSON text; ConfigError if it is not one.
    Warnings: versions that differ from the running ones, unknown keys (dropped)."""
    payload = parse(text, source)
    if not isinstance(payload, dict) or type(payload.get(FORMAT_KEY)) is not int or payload[FORMAT_KEY] != FORMAT_VERSION:
        raise ConfigError(f"{source}: not a figure configuration (expected the key {FORMAT_KEY!r} = "
                          f"{FORMAT_VERSION}; write one with --config-out)")
    figure = payload.get("figure")
    if not isinstance(figure, dict):
        raise ConfigError(f"{source}: figure must be an object")
    saved = payload.get("versions", {})
    if not (isinstance(saved, dict) and all(isinstance(v, str) for v in saved.values())):
        raise ConfigError(f"{source}: versions must be an object of strings (package: version)")
    unknown = sorted(set(payload) - {FORMAT_KEY, "versions", "figure"})
    now = versions()
    warnings = [f"{source}: unknown keys {short(unknown)} ignored"] if unknown else []
    warnings += [f"{source} was written with {pkg} {saved[pkg]}, running {now[pkg]}: numbers may differ slightly"
                 for pkg in now if pkg in saved and saved[pkg] != now[pkg]]
    return figure, warnings


def load(path: str) -> tuple[dict[str, Any], list[str]]:
    """``loads`` of the file ``path`` (``read``: a regular file within SIZE_LIMIT)."""
    return loads(read(path), path)


def kind_of(value) -> str:
    """The JSON kind of a parsed value: boolean, number, string, list, object or null."""
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


def check_like(value, template, where: str = "figure") -> list[str]:
    """Warnings (unknown keys, which are removed from ``value``); ConfigError naming the
    place unless ``value`` has the shape of ``template``: objects with the template's
    keys (recursively), lists whose items are like the template's first item, and
    scalars of the template's kind (a ``width`` may be a number or a string: "single",
    "double" or pixels; a null stands for an unset number: null or a number).  Finite
    numbers only."""
    kind, want = kind_of(value), kind_of(template)
    warnings: list[str] = []
    if want == "object":
        if kind != "object":
            raise ConfigError(f"{where}: expected an object, got {kind}")
        template = {**optional_run_keys(template, value), **template}
        missing, unknown = sorted(set(template) - set(value)), sorted(set(value) - set(template))
        if missing:
            raise ConfigError(f"{where}: missing keys {missing}")
        if unknown:
            warnings.append(f"{where}: unknown keys {short(unknown)} ignored")
            for key in unknown:
                del value[key]
        for key in template:
            warnings += check_like(value[key], template[key], f"{where}.{key}")
    elif want == "list":
        if kind != "list":
            raise ConfigError(f"{where}: expected a list, got {kind}")
        if not value and template:
            raise ConfigError(f"{where}: must not be empty")
        for i, item in enumerate(value):
            warnings += check_like(item, template[0], f"{where}[{i}]")
    elif kind != want and not (where.endswith(".width") and {kind, want} <= {"number", "string"}) and not (
            (want, kind) == ("null", "number")):
        raise ConfigError(f"{where}: expected a {want}, got {kind}" + ("" if kind in ("object", "list", "null") else
                                                                          f" {short(value)}"))
    if kind == "number" and not math.isfinite(value):
        raise ConfigError(f"{where}: must be finite, got {value!r}")
    return warnings


def short(value) -> str:
    """The repr of ``value``, cut to about 40 characters, for a one-line message."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


# ----------------------------------------------------------------------------- runs

RUN_SETTINGS = tuple(s for s in SETTINGS.values() if s.target in ("setup", "hyper"))
OPTIONAL_RUN_SETTINGS = SCHEDULE_SETTINGS + ("clip", "clip_norm") + SAM_SETTINGS   # a run may leave these out


def optional_run_keys(template: dict, value: dict) -> dict[str, Any]:
    """The optional settings (OPTIONAL_RUN_SETTINGS) that ``value`` holds, with their
    defaults, when ``template`` is a run (it has a label and an optimizer); {} otherwise.
    A run written before the learning-rate schedules, clipping and SAM existed, or one
    that does not use them (run_template leaves them out), loads with their defaults."""
    if not ({"label", "optimizer"} <= set(template) and isinstance(value, dict)):
        return {}
    return {k: SETTINGS[k].default for k in OPTIONAL_RUN_SETTINGS if k in value}


def run_template(label: str = "", **overrides) -> dict[str, Any]:
    """A run: label, every Setup field and every Hyper field (dynamics.settings, the
    defaults of ``overrides``' optimizer) but the optional ones (OPTIONAL_RUN_SETTINGS,
    present only when given), with ``overrides``."""
    optimizer = overrides.get("optimizer", SETTINGS["optimizer"].default)
    run = {"label": label, **{s.name: s.default_for(optimizer) for s in RUN_SETTINGS}}
    unknown = set(overrides) - set(run)
    run = {k: v for k, v in run.items() if k not in OPTIONAL_RUN_SETTINGS}
    if unknown:
        raise ValueError(f"unknown run settings {sorted(unknown)}")
    run.update(overrides)
    return run


def setup_hyper(run: dict[str, Any], where: str | None = None) -> tuple[Setup, Hyper]:
    """The Setup and Hyper of a run; ConfigError naming the bad value and the allowed
    ones otherwise (as ``where.name`` where given, e.g. figure.runs[0], else by the run's label)."""
    run = {**{k: SETTINGS[k].default for k in OPTIONAL_RUN_SETTINGS}, **run}
    for s in RUN_SETTINGS:
        problem = s.problem(run[s.name])
        if problem is not None:
            raise ConfigError(f"{where}.{s.name} {problem}" if where else f"run {run['label']!r}: {s.name} {problem}")
    setup, hyper = setup_hyper_of(run)
    return setup, make_hyper(setup.dtype, **hyper._asdict())
