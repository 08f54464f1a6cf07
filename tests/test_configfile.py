"""Hostile configuration files: the one loader (dynamics.configfile: read, decode,
parse, loads; figures.presets.validate; ui.downloads.parse_app_config) answers every
bad file with one line naming the field, exit status 2 on the command line and an error
message in the app, never a traceback; unknown keys are warnings.  Property-based fuzz
(hypothesis) of the loader and of the app's URL parser (ui.state.parse_query)."""
from __future__ import annotations

import copy
import json
import math
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.main import main
from dynamics.configfile import (DEPTH_LIMIT, OPTIONAL_RUN_SETTINGS, RUN_SETTINGS, SIZE_LIMIT, ConfigError, dumps, loads,
                                 nesting)
from figures import presets
from toys.catalog import START_BOUND, param_bounds
from ui import downloads
from ui.downloads import app_config, parse_app_config
from ui.state import FIELDS, PARAM_PREFIX, defaults, parse_query, to_query

ROOT = Path(__file__).resolve().parent.parent
MARK = 123.456789                                    # a number to replace by a hostile literal


def figure_text(edit=None, number: str | None = None) -> str:
    """fig2's configuration file with ``edit`` applied to its figure and MARK replaced by ``number``."""
    config = presets.default_config("fig2")
    if edit:
        edit(config)
    text = dumps(config)
    return text.replace(repr(MARK), number) if number else text


def app_text(edit=None, number: str | None = None) -> str:
    """The app's configuration file (defaults) with ``edit`` applied to its state."""
    state = defaults()
    if edit:
        edit(state)
    text = app_config(state, "trajectories")
    return text.replace(repr(MARK), number) if number else text


def set_versions(payload_text: str, versions) -> str:
    payload = json.loads(payload_text)
    payload["versions"] = versions
    return json.dumps(payload)


DEEP = "[" * 100000 + "]" * 100000
ZEROS = "1" + "0" * 400
DIGITS = "7" * 5000
# name: (file text or bytes, message): the command line's files (a figure configuration)
FIGURE_CASES = {
    "deep": (DEEP, f"nested deeper than {DEPTH_LIMIT} levels"),
    "deep-in-figure": (figure_text().replace('"steps": 1000', '"steps": ' + DEEP), "nested deeper"),
    "lr-1e400": (figure_text(lambda c: c["runs"][0].update(lr=MARK), ZEROS), "figure.runs[0].lr: the number 1000000"),
    "5000-digits": (figure_text(lambda c: c.update(steps=MARK), DIGITS), "figure.steps: the number 7777"),
    "nan": (figure_text(lambda c: c["runs"][1].update(beta=MARK), "NaN"), "figure.runs[1].beta: the number NaN"),
    "versions-jax": (set_versions(figure_text(), "jax"), "versions must be an object of strings"),
    "preset-list": (figure_text(lambda c: c.update(preset=["fig2"])), "figure.preset: unknown preset ['fig2']"),
    "toy-params-null": (figure_text(lambda c: c.update(toy_params=None)), "figure.toy_params: expected an object"),
    "noise-sigma": (figure_text(lambda c: c["runs"][0].update(noise_sigma=-1)),
                    "figure.runs[0].noise_sigma must be >= 0, got -1"),
    "toy-param-range": (figure_text(lambda c: c["toy_params"].update(h1=1e9)),
                        "figure.toy_params.h1 must be in [0.001, 1000]"),
    "start-range": (figure_text(lambda c: c.update(start=[1e9, 0])), "figure.start"),
    "height": (figure_text(lambda c: c["layout"].update(height=1e30)), "figure.layout.height must be in"),
    "not-utf8": (b'{"a": "\xff\xfe"}', "not UTF-8 text"),
    "3MB": (" " * (3 * 2**20) + figure_text(), "larger than 2 MiB"),
}


def unescaped(text: str) -> str:
    """The app's message as read on screen: ui.text.plain backslash-escapes punctuation."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def assert_one_line(text: str, message: str) -> None:
    assert "Traceback" not in text and text.count("\n") <= 1 and message in text, text


# ----------------------------------------------------------------------------- the command line

def run_figure(capsys, tmp_path, path) -> tuple[int, str]:
    status = main(["figure", "--config", str(path), "--out", str(tmp_path / "out.pdf")])
    return status, capsys.readouterr().err


@pytest.mark.parametrize("name", FIGURE_CASES)
def test_figure_config_refuses_a_hostile_file_in_one_line(name, capsys, tmp_path):
    data, message = FIGURE_CASES[name]
    path = tmp_path / "bad.json"
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    status, err = run_figure(capsys, tmp_path, path)
    assert status == 2
    assert_one_line(err, message)
    assert err.startswith(f"python -m dynamics figure: error: argument --config: {path}: ")


def test_figure_config_refuses_devices_fifos_and_folders_without_reading(capsys, tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)                            # nobody writes: opening it for reading would block
    for path in ("/dev/zero", fifo, tmp_path):
        status, err = run_figure(capsys, tmp_path, path)
        assert status == 2
        assert_one_line(err, f"{path}: not a regular file")
    status, err = run_figure(capsys, tmp_path, tmp_path / "missing.json")
    assert status == 2 and "cannot read it (No such file or directory)" in err


def test_animate_config_refuses_a_hostile_file_in_one_line(capsys, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(FIGURE_CASES["noise-sigma"][0])
    assert main(["animate", "--config", str(path), "--out", str(tmp_path / "a.gif")]) == 2
    assert_one_line(capsys.readouterr().err, "figure.runs[0].noise_sigma must be >= 0, got -1")


def test_a_deep_file_is_no_traceback_in_a_fresh_process(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    proc = subprocess.run([sys.executable, "-m", "dynamics", "figure", "--config", str(path), "--out",
                           str(tmp_path / "x.pdf")], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert_one_line(proc.stderr, "nested deeper than")


def test_unknown_keys_are_warnings_and_dropped(capsys, tmp_path):
    def extra(config):
        config["colour"] = "red"
        config["runs"][1]["comment"] = "mine"
        config["layout"]["dpi"] = 300
    path = tmp_path / "extra.json"
    path.write_text(set_versions(figure_text(extra), {"jax": "0.0.1"}).replace('{"dynamics', '{"note": 1, "dynamics'))
    status = main(["figure", "--config", str(path), "--config-out", str(tmp_path / "again.json")])
    err = capsys.readouterr().err
    assert status == 0, err
    for text in ("unknown keys ['note']", "figure: unknown keys ['colour']", "figure.runs[1]: unknown keys ['comment']",
                 "figure.layout: unknown keys ['dpi']", "jax 0.0.1"):
        assert text in err, err
    written = json.loads((tmp_path / "again.json").read_text())["figure"]
    assert "colour" not in written and "comment" not in written["runs"][1] and "dpi" not in written["layout"]
    assert written["runs"] == presets.default_config("fig2")["runs"]


# ----------------------------------------------------------------------------- the app's upload

APP_CASES = {
    "deep": (DEEP, "nested deeper"),
    "lr-1e400": (app_text(lambda s: s.update(lr=MARK), ZEROS), "app_state.lr: the number 1000000"),
    "5000-digits": (app_text(lambda s: s.update(steps=MARK), DIGITS), "app_state.steps: the number 7777"),
    "versions-jax": (set_versions(app_text(), "jax"), "versions must be an object of strings"),
    "toy-list": (app_text(lambda s: s.update(toy=["quad-repo"])), "app_state.toy ['quad-repo'] is not one of"),
    "param-null": (app_text(lambda s: s.update(p_h1=None)), "app_state.p_h1: expected a number, got null"),
    "noise-sigma": (app_text(lambda s: s.update(noise_sigma=-1)),
                    "app_state.noise_sigma = '-1.0': expected a number in [0, 100]"),
    "view-object": (app_text().replace('"view": "trajectories"', '"view": {"a": 1}'), "view {'a': 1} is not one"),
    "figure-config": (figure_text(), "not a configuration of this app"),
    "not-utf8": (b'{"a": "\xff\xfe"}', "not UTF-8 text"),
    "3MB": (" " * (3 * 2**20) + app_text(), "larger than 2 MiB"),
}


class FakeUpload:
    """What st.file_uploader returns: a name, a size and the bytes (read only if small)."""

    def __init__(self, name: str, data: bytes):
        self.name, self.size, self._data = name, len(data), data

    def getvalue(self) -> bytes:
        assert self.size <= SIZE_LIMIT, "a file over the limit was read"
        return self._data


@pytest.mark.parametrize("name", APP_CASES)
def test_the_upload_handler_answers_a_hostile_file_with_one_error(name, monkeypatch):
    data, message = APP_CASES[name]
    state = {downloads.UPLOAD_KEY: FakeUpload(f"{name}.json", data if isinstance(data, bytes) else data.encode())}
    monkeypatch.setattr(downloads.st, "session_state", state)
    downloads._on_upload()
    kind, text = state[downloads.MESSAGE_KEY]
    assert kind == "error" and str(ROOT) not in text and "site-packages" not in text
    assert_one_line(unescaped(text), message)


def test_the_app_refuses_a_large_upload_and_warns_of_unknown_keys():
    from tests.test_app import new_app
    from tests.test_app_export import upload

    at = new_app({"lr": "0.02"}).run()
    upload(at, "big.json", b" " * (3 * 2**20) + app_text().encode())
    assert not at.exception and len(at.error) == 1 and "larger than 2 MiB" in unescaped(at.error[0].value)
    assert dict(at.query_params) == {"lr": "0.02"}
    text = app_text(lambda s: s.update(colour="red", lr=0.05)).replace('"view"', '"zoom": 2, "view"')
    upload(at, "extra.json", text.encode())
    assert not at.exception and not at.error
    message = unescaped(at.success[0].value)
    assert "app_state: unknown keys ['colour'] ignored" in message and "unknown keys ['zoom']" in message
    assert at.query_params["lr"] == ["0.05"] or at.query_params["lr"] == "0.05"


def test_the_upload_limit_of_streamlit_is_the_loaders():
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["maxUploadSize"] * 2**20 == SIZE_LIMIT


def test_nesting_ignores_brackets_in_strings():
    assert nesting('{"a": [1, {"b": "[[[{{{"}], "c": "\\"]]"}') == 3
    assert nesting("[]") == 1 and nesting('"[["') == 0


# ----------------------------------------------------------------------------- fuzz

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
FUZZ = settings(max_examples=200, deadline=None, derandomize=True)  # the same examples in every CI run


def raw(figure) -> str:
    """A configuration file of ``figure`` as json writes it (NaN and Infinity included)."""
    return json.dumps({"dynamics_figure_config": 1, "figure": figure})


def paths(value, prefix=()):
    """Every path (tuple of keys and indices) into a JSON value."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from paths(item, prefix + (key,))


FIG2 = presets.default_config("fig2")
FIG2_PATHS = list(paths(FIG2))[1:]


def replaced(value, path, new):
    out = copy.deepcopy(value)
    *parents, last = path
    target = out
    for key in parents:
        target = target[key]
    target[last] = new
    return out


def assert_fits_schema(config: dict) -> None:
    """What an accepted configuration must satisfy, checked directly on its values."""
    template = presets.default_config(config["preset"])
    assert set(config) == set(template)
    for run in config["runs"]:
        assert set(template["runs"][0]) <= set(run) <= set(template["runs"][0]) | set(OPTIONAL_RUN_SETTINGS)
        assert all(s.problem(run.get(s.name, s.default)) is None for s in RUN_SETTINGS)
    for key, value in config["toy_params"].items():
        lo, hi = param_bounds(config["toy"], key)
        assert isinstance(value, (int, float)) and lo <= value <= hi
    assert len(config["start"]) == 2 and all(abs(v) <= START_BOUND for v in config["start"])
    assert isinstance(config["steps"], int) and config["steps"] >= 1


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_fuzz_the_loader_on_any_text(text):
    try:
        figure, _ = loads(text)
        presets.validate(figure)
    except ConfigError as err:
        assert "\n" not in str(err)


@FUZZ
@given(st.sampled_from(FIG2_PATHS), JSON, st.booleans())
def test_fuzz_the_loader_on_a_configuration_with_any_value_anywhere(path, value, add):
    target = _at(FIG2, path)
    config = replaced(FIG2, path + ("extra",) if add and isinstance(target, dict) else path, value)
    try:
        figure, _ = loads(raw(config))
        presets.validate(figure)
    except ConfigError as err:
        assert "\n" not in str(err)
        return
    assert_fits_schema(figure)


def _at(value, path):
    for key in path:
        value = value[key]
    return value


NUMBER_PATHS = [p for p in FIG2_PATHS if type(_at(FIG2, p)) in (int, float)]


@FUZZ
@given(st.sampled_from(NUMBER_PATHS), st.floats() | st.integers() | st.floats(-2000, 2000))
def test_fuzz_the_loader_on_any_number_in_place_of_a_number(path, value):
    try:
        figure, _ = loads(raw(replaced(FIG2, path, value)))
        presets.validate(figure)
    except ConfigError as err:
        where = "figure" + "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in path)
        named = where in str(err) or where.rsplit("[", 1)[0] + ":" in str(err)
        sized = str(err).startswith("figure: too large: ") and str(value) in str(err)  # the budget names the value
        assert "\n" not in str(err) and (named or sized), str(err)
        return
    assert_fits_schema(figure)


APP_STATE = defaults()


@FUZZ
@given(st.sampled_from(sorted(APP_STATE)), JSON)
def test_fuzz_the_app_loader_on_any_value_of_any_setting(key, value):
    try:
        values, _, _ = parse_app_config(raw({"app_state": {**APP_STATE, key: value}, "view": "trajectories"}))
    except ConfigError as err:
        assert "\n" not in str(err)
        return
    assert_in_bounds(values)


def assert_in_bounds(values: dict) -> None:
    """Every value of the app's state within its Field's bounds or choices."""
    for key, f in FIELDS.items():
        v = values[key]
        if f.kind in ("float", "int"):
            assert (v is None and f.unset) or (type(v) is (int if f.kind == "int" else float)
                                               and math.isfinite(v) and f.lo <= v <= f.hi), (key, v)
        elif f.kind == "choice":
            assert v in f.choices, (key, v)
        elif f.kind == "list":
            assert v and set(v) <= set(f.choices) and len(set(v)) == len(v), (key, v)
        elif f.kind == "bool":
            assert isinstance(v, bool), (key, v)
        else:
            assert isinstance(v, str) and len(v) <= f.hi, (key, v)
    assert all(abs(values[k]) <= START_BOUND for k in ("sx", "sy"))
    toy = values["toy"]
    for key, v in values.items():
        if key.startswith(PARAM_PREFIX):
            lo, hi = param_bounds(toy, key[len(PARAM_PREFIX):])
            assert lo <= v <= hi, (key, v)


NASTY = st.sampled_from(["nan", "inf", "-inf", "1e400", "-1e400", ZEROS, DIGITS, "1_000", " 7 ", "٣", "0x10",
                         "", "true", "gdm,gdm", "adam,lion", "1,2", "1e3,-1e3", "quad-paper", "custom", "x^2+y^2"])
URL_KEYS = st.sampled_from(list(FIELDS) + ["start", "p_h1", "p_h2", "p_a", "p_b", "p_s", "p_angle", "view"])


@FUZZ
@given(st.dictionaries(URL_KEYS | st.text(max_size=6), NASTY | st.text(max_size=30) | st.floats().map(repr)
                       | st.integers().map(str), max_size=8))
def test_fuzz_the_url_parser(query):
    values, warnings = parse_query(query)
    assert all("\n" not in w for w in warnings)
    assert_in_bounds(values)
    again, _ = parse_query(to_query(values))
    assert again == values
