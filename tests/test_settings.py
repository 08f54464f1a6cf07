"""The run settings' schema (dynamics.settings): the command line, figure configuration
files and the app take every default and valid range from it, so they agree (the app
differs only where a setting says so, with its reason); each rejects a bad value with
one line naming the setting and its valid values; the app's URL state round-trips."""
from __future__ import annotations

import pytest

from cli.main import build_parser
from cli.options import UsageError, resolve_run
from dynamics.config import OPTIMIZERS
from dynamics.configfile import ConfigError, run_template, setup_hyper
from dynamics.settings import RUN_OPTIONS, SETTINGS
from ui.state import FIELDS, SPEC_SETTINGS, defaults, parse_query, runs_of, to_query

NUMBERS = [s for s in SETTINGS.values() if s.kind in ("float", "int")]


def cli_config(*argv: str) -> dict:
    """The resolved config of ``python -m dynamics run ARGV`` (nothing is run)."""
    return resolve_run(build_parser().parse_args(["run", *argv]))


def bad_value(s):
    """A value just outside the valid range of a number setting."""
    return s.hi if s.hi is not None and s.hi_open else s.lo if s.lo_open else s.lo - 1


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_defaults_agree_between_cli_config_files_and_app(optimizer):
    config = cli_config("--optimizer", optimizer)
    run = run_template(optimizer=optimizer)
    state = {**defaults(), "opt": (optimizer,), "variants": "base"}
    spec = runs_of(state)[0]
    chosen = {"optimizer"} | ({"decay"} if optimizer == "adamw" else set())     # adamw: decay decoupled
    for name in set(RUN_OPTIONS) - chosen:
        s = SETTINGS[name]
        assert config.get(s.dest, s.default) == s.default_for(optimizer), name    # off features: left out
    for s in SETTINGS.values():
        if s.target in ("setup", "hyper") and s.name not in chosen:
            assert run.get(s.name, s.default) == s.default_for(optimizer), s.name
        if s.url is not None and s.name != "optimizer":
            assert FIELDS[s.url].default == s.opening, s.name
        if s.name in SPEC_SETTINGS and s.opening == s.default and s.name not in chosen:
            assert getattr(spec.setup if s.target == "setup" else spec.hyper, s.name) == s.default_for(optimizer), \
                s.name
    assert FIELDS["opt"].default == (SETTINGS["optimizer"].default,) and config["steps"] == state["steps"]


def test_the_app_differs_from_the_cli_only_where_a_setting_says_why():
    differ = {s.name for s in SETTINGS.values() if s.opening != s.default}
    assert differ == {"beta"}                        # the opening view: the paper's Fig. 2 at beta 0.99
    assert all(SETTINGS[name].app_reason for name in differ)
    assert defaults()["beta"] == 0.99 and cli_config()["beta"] == 0.9


def test_lion_beta2_is_0_99_in_app_and_cli():
    for optimizer, b2 in (("lion", 0.99), ("adam", 0.999), ("rmsprop", 0.9), ("gdm", 0.999)):
        assert cli_config("--optimizer", optimizer)["beta2"] == b2
        assert run_template(optimizer=optimizer)["beta2"] == b2
        assert runs_of({**defaults(), "opt": (optimizer,)})[0].hyper.beta2 == b2
    assert defaults()["beta2"] is None                           # unset: each optimizer's own
    override = runs_of({**defaults(), "opt": ("adam", "lion"), "beta2": 0.95})
    assert {spec.hyper.beta2 for spec in override} == {0.95}     # an explicit value overrides it for every run
    assert cli_config("--optimizer", "lion", "--beta2", "0.95")["beta2"] == 0.95


def test_url_state_url_round_trip():
    for query in ({}, {"beta2": "0.95", "lr": "0.002", "opt": "adam,lion", "comp": "count", "o_sign": "smooth",
                       "seed": "7", "noise_sigma": "0.1", "decay": "cautious", "wd": "0.5", "beta": "0.9"},
                  {"schedule": "warmup-cosine", "warmup": "20", "lr_final": "0.1", "clip": "true", "clip_norm": "0.5"},
                  {"schedule": "step", "decay_every": "30", "decay_factor": "0.25"}):
        values, warnings = parse_query(query)
        assert warnings == [] and to_query(values) == query
    assert parse_query({"beta2": ""})[0]["beta2"] is None


@pytest.mark.parametrize("s", NUMBERS + [SETTINGS["mask"]], ids=lambda s: s.name)
def test_a_bad_value_gives_one_line_naming_the_setting_and_its_valid_values(s):
    value = "sign" if s.kind == "choice" else bad_value(s)
    message = f"must be {s.rule()}, got {value:g}" if isinstance(value, float) else f"must be {s.rule()}, got {value}"
    assert s.problem(value) == message and "\n" not in message
    if s.name in RUN_OPTIONS and s.kind != "choice":          # the command line (argparse checks the choices)
        with pytest.raises(UsageError) as err:
            cli_config(s.flag, str(value))
        assert str(err.value) == f"argument {s.flag}: {message}"
    if s.target in ("setup", "hyper"):                        # a figure configuration file
        with pytest.raises(ConfigError) as err:
            setup_hyper(run_template("r", **{s.name: value}))
        assert str(err.value) == f"run 'r': {s.name} {message}"
    if s.url in FIELDS:                                       # the app's URL
        _, warnings = parse_query({s.url: str(value)})
        assert len(warnings) == 1 and warnings[0].startswith(f"URL parameter {s.url}=") and "expected" in warnings[0]
        assert "\n" not in warnings[0]


def test_the_cli_help_shows_each_settings_help_and_valid_values():
    text = " ".join(build_parser()._subparsers._group_actions[0].choices["run"].format_help().split())
    for name in RUN_OPTIONS:
        s = SETTINGS[name]
        assert s.flag in text and " ".join(s.help.split())[:30] in text, name
        if s.kind in ("float", "int"):
            assert s.rule() in text, name


def test_the_apps_configuration_file_keeps_beta2_unset_or_set():
    from ui.downloads import app_config, parse_app_config

    for beta2 in (None, 0.95):
        values = {**defaults(), "beta2": beta2}
        assert parse_app_config(app_config(values, "trajectories"))[0] == values
    with pytest.raises(ConfigError, match="beta2"):
        parse_app_config(app_config({**defaults(), "beta2": 1.5}, "trajectories"))
