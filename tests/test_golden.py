"""Behaviour preserved: the command lines of tests/golden/cases.py give exactly the
outputs recorded before the architecture change (tests/golden/golden.json, written by
tests/golden/record.py): every number of every run, sweep and figure table."""
import csv
import json
import os
import sys

import pytest

from cli.main import main

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "golden"))
from cases import FIGURES, RUNS, SWEEPS  # noqa: E402
from record import table_digest  # noqa: E402

with open(os.path.join(os.path.dirname(__file__), "golden", "golden.json")) as _f:
    GOLDEN = json.load(_f)


def _cli(capsys, argv):
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name,argv", RUNS + SWEEPS, ids=[n for n, _ in RUNS + SWEEPS])
def test_json_unchanged(capsys, name, argv):
    assert json.loads(_cli(capsys, argv)) == GOLDEN[name]


@pytest.mark.parametrize("name,preset", FIGURES, ids=[n for n, _ in FIGURES])
def test_figure_data_unchanged(capsys, tmp_path, name, preset):
    data, config = tmp_path / "d.csv", tmp_path / "c.json"
    _cli(capsys, ["figure", "--preset", preset, "--data-out", str(data), "--config-out", str(config)])
    with open(data, newline="") as f:
        rows = list(csv.reader(f))
    conf = json.loads(config.read_text())
    conf.pop("versions", None)
    assert table_digest(rows) == GOLDEN[name]["table"]
    assert conf == GOLDEN[name]["config"]


def test_cases_cover_every_recorded_output():
    assert sorted(GOLDEN) == sorted(n for n, _ in RUNS + SWEEPS + FIGURES)
