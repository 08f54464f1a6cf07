"""Paper figures (figures.presets, viz.paper, viz.theme) and ``python -m dynamics figure``: each
preset renders; its data equals a direct computation and what the figure plots; the JSON
configuration round-trips to identical figure data; bad input exits 2 with one line."""
import copy
import json
import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from cli.main import main
from dynamics import Setup, make_hyper, rollout
from dynamics.configfile import ConfigError, dumps, loads
from dynamics.optimizers.gdm import optimum as heavy_ball_optimum, rate as heavy_ball_rate
from dynamics.rates import best_cell
from dynamics.sweep import grid_axis, sweep
from figures import presets
from toys import get_toy
from viz.paper import build_trajectories
from viz.export import data_bytes, export_bytes
from viz.theme import MATHJAX_ENV, PX_PER_PT, apply_theme, label, latex_available, optimizer_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def rendered():
    """Every preset, rendered once (fig3 at its full 128 x 128 grid)."""
    return {name: presets.render(presets.default_config(name)) for name in presets.PRESETS}


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_every_preset_renders_and_exports(rendered, name):
    fig, data = rendered[name]
    config = presets.default_config(name)
    root = ET.fromstring(export_bytes(fig, "svg"))
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    for run in config["runs"]:
        expected = optimizer_name(run["optimizer"], run["cautious"]) if name == "fig2-ablation" else run["label"]
        assert any(expected in t for t in texts), expected
    images = list(root.iter(f"{SVG}image"))
    if name == "fig3":
        assert len(images) == 2                  # the two heatmaps, embedded as images
    else:
        assert not images                        # contours and lines stay vector
        assert any("js-line" in p.get("class", "") for p in root.iter(f"{SVG}path"))
    # every axis tick label prints at the theme's font size (8 pt = 10.667 px), also the
    # "10^k" labels of log axes that plotly.js would draw 1.25x larger
    sizes = {re.search(r"font-size: ([\d.]+)px", t.get("style")).group(1)
             for g in root.iter(f"{SVG}g") if re.fullmatch(r"[xy]\d*tick", g.get("class", ""))
             for t in g.iter(f"{SVG}text")}
    assert sizes == {"10.6667"}
    lengths = {len(v) for v in data.table.values()}
    assert len(lengths) == 1 and lengths.pop() > 0


def test_fig2_data_is_the_rollout_and_what_is_plotted(rendered):
    fig, data = rendered["fig2"]
    toy = get_toy("quad-repo")
    for optimizer, cautious, label_ in (("gd", False, "GD"), ("gdm", False, "GDM"), ("gdm", True, "C-GDM")):
        traj = rollout(Setup(optimizer, cautious=cautious), toy, make_hyper(lr=0.01, beta=0.99), 1000)
        rows = data.table["run"] == label_
        np.testing.assert_array_equal(data.table["loss"][rows], traj.loss)
        np.testing.assert_array_equal(data.table["hamiltonian"][rows], traj.hamiltonian)
        np.testing.assert_array_equal(np.column_stack([data.table["w1"][rows], data.table["w2"][rows]]), traj.w)
        path = next(t for t in fig.data if t.name == label_ and t.xaxis == "x")
        np.testing.assert_array_equal(path.x, traj.w[:, 0])
        loss_line = next(t for t in fig.data if t.name == label_ and t.xaxis == "x2")
        np.testing.assert_array_equal(loss_line.y, np.where(traj.loss > 0, traj.loss, np.nan))
    assert fig.layout.yaxis2.type == "log" and fig.layout.yaxis3.type == "log"


def test_fig3_maps_are_the_sweep_with_the_best_cell_dotted():
    config = presets.default_config("fig3")
    config["lr_range"]["n"], config["beta_range"]["n"] = 24, 20
    fig, data = presets.render(config)
    lr, beta = grid_axis(0.01, 0.5, 24), grid_axis(0.0, 0.95, 20)
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    dots = [t for t in fig.data if t.name == "best cell"]
    for k, cautious in enumerate((False, True)):
        res = sweep(Setup("gdm", cautious=cautious), get_toy("quad-k4"), lr, beta, 1000, tol=1e-10, start=(1.0, 1.0),
                    toy_params=dict(h1=8.0, h2=2.0))
        assert res.rate_method == ("estimate" if cautious else "exact")
        rows = data.table["run"] == ("C-GDM" if cautious else "GDM")
        np.testing.assert_array_equal(data.table["rate"][rows], res.rate.ravel())
        np.testing.assert_array_equal(np.asarray(heatmaps[k].z, float),
                                      np.where(res.diverged | (res.rate >= 1), np.nan, res.rate))
        best = best_cell(lr, beta, res.rate, res.diverged | (~res.settled if cautious else False))
        assert (dots[k].x[0], dots[k].y[0]) == (best["lr"], best["beta"])
        assert data.table["best"][rows].sum() == 1
    optimum = next(t for t in fig.data if t.name.startswith("GDM optimum"))
    assert (optimum.x[0], optimum.y[0]) == pytest.approx((2 / 9, 1 / 9), rel=1e-12)
    assert heavy_ball_optimum(2.0, 8.0)["rate"] == pytest.approx(1 / 3)
    # GDM's map is its closed form (rate_method auto), C-GDM's the estimate
    gdm = data.table["run"] == "GDM"
    exact = heavy_ball_rate(lr[None, :], beta[:, None], [8.0, 2.0]).ravel()
    np.testing.assert_array_equal(data.table["rate"][gdm], exact)
    assert set(data.table["rate_method"][gdm]) == {"exact"} and set(data.table["rate_method"][~gdm]) == {"estimate"}
    titles = [a.text.replace("<br>", " ") for a in fig.layout.annotations]     # wrapped to its panel
    assert any(t.startswith("GDM (closed form): best cell ρ = ") for t in titles)
    assert any(t.startswith("C-GDM (estimate): best settled cell ρ = ") for t in titles)


def test_fig2_presets_are_the_papers_settings():
    """fig2-paper: 0.5 w1^2 + 0.1 w2^2 from (1, 1), GDM and C-GDM at eps 0.01, beta 0.99,
    GD at the 10x larger eps 0.1; fig2: the code repository's x1^2 + 0.1 x2^2 from (-5, 5);
    fig2-ablation: the paper's six (eps, beta) pairs, GDM and C-GDM each."""
    paper_cfg = presets.default_config("fig2-paper")
    toy = get_toy(paper_cfg["toy"])
    assert toy.value(np.array([1.0, 1.0]), toy.params(paper_cfg["toy_params"])) == pytest.approx(0.5 + 0.1)
    assert paper_cfg["start"] == [1.0, 1.0] and paper_cfg["steps"] == 1000
    assert [(r["optimizer"], r["cautious"], r["lr"], r["beta"]) for r in paper_cfg["runs"]] == [
        ("gd", False, 0.1, 0.99), ("gdm", False, 0.01, 0.99), ("gdm", True, 0.01, 0.99)]
    repo = presets.default_config("fig2")
    assert repo["toy"] == "quad-repo" and repo["start"] == [-5.0, 5.0]
    ablation = presets.default_config("fig2-ablation")
    assert ablation["toy"] == "quad-paper" and ablation["start"] == [1.0, 1.0]
    pairs = [(r["lr"], r["beta"]) for r in ablation["runs"]]
    assert pairs == [p for p in ((0.01, 0.5), (0.01, 0.9), (0.01, 0.99), (0.01, 0.999), (0.1, 0.99), (0.001, 0.99))
                     for _ in range(2)]
    assert [r["cautious"] for r in ablation["runs"]] == [False, True] * 6


def test_decay_data_distance_is_to_the_valley(rendered):
    _, data = rendered["wd-line"]
    t = data.table
    np.testing.assert_allclose(t["set_distance"], np.abs(t["w1"] + t["w2"] - 2) / np.sqrt(2), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t["norm"], np.hypot(t["w1"], t["w2"]), rtol=1e-14)
    assert set(t["run"]) == {"no decay", "decoupled decay", "cautious decay"}


@pytest.mark.parametrize("name", ["fig2-ablation", "wd-hyperbola", "fig3"])
def test_json_config_round_trip_reproduces_the_figure(name):
    config = presets.default_config(name)
    if name == "fig3":                          # a changed configuration must travel too
        config["lr_range"]["n"], config["beta_range"]["n"] = 16, 12
        config["runs"][1]["compensation"] = "none"
    config["layout"].update(width="single", font="sans")
    fig1, data1 = presets.render(config)
    loaded, warnings = loads(dumps(config))
    assert loaded == config and warnings == []
    fig2, data2 = presets.render(loaded)
    assert fig1.to_plotly_json() == fig2.to_plotly_json()
    for key in data1.table:
        np.testing.assert_array_equal(data1.table[key], data2.table[key])
    for key in data1.arrays:
        np.testing.assert_array_equal(data1.arrays[key], data2.arrays[key])


def test_loading_checks_structure_values_and_versions():
    good = json.loads(dumps(presets.default_config("fig2")))

    def load_with(edit):
        payload = copy.deepcopy(good)
        edit(payload["figure"])
        config, warnings = loads(json.dumps(payload))
        presets.validate(config)
        return warnings

    bad_edits = {
        "missing keys": lambda f: f.pop("steps"),
        "optimizer must be one of": lambda f: f["runs"][0].update(optimizer="sgd"),
        "beta must be in": lambda f: f["runs"][1].update(beta=1.0),
        "steps": lambda f: f.update(steps=10.5),
        "toy_params.h2 must be in": lambda f: f["toy_params"].update(h2=-1.0),
        "unknown toy": lambda f: f.update(toy="sphere"),
        "width": lambda f: f["layout"].update(width="triple"),
        "unknown preset": lambda f: f.update(preset="fig9"),
        "expected a number": lambda f: f["runs"][0].update(lr="fast"),
        "toy_params": lambda f: f.update(toy_params=[1, 2]),
        "expected a number, got boolean": lambda f: f.update(steps=True),
    }
    for message, edit in bad_edits.items():
        with pytest.raises(ConfigError, match=message):
            load_with(edit)
    with pytest.raises(ConfigError, match="not valid JSON"):
        loads("{")
    with pytest.raises(ConfigError, match="NaN"):
        loads('{"dynamics_figure_config": 1, "figure": {"x": NaN}}')
    payload = copy.deepcopy(good)
    payload["versions"]["jax"] = "0.0.1"
    _, warnings = loads(json.dumps(payload))
    assert len(warnings) == 1 and "jax 0.0.1" in warnings[0]
    assert set(good["versions"]) >= {"python", "jax", "optax", "numpy", "plotly"}


def test_latex_only_with_an_offline_mathjax(monkeypatch, tmp_path):
    monkeypatch.delenv(MATHJAX_ENV, raising=False)
    assert not latex_available() and label("lr") == "step size ε"
    monkeypatch.setenv(MATHJAX_ENV, str(tmp_path / "missing.js"))
    with pytest.raises(FileNotFoundError, match=MATHJAX_ENV):
        label("lr")
    (tmp_path / "tex-svg.js").write_text("// stand-in")
    monkeypatch.setenv(MATHJAX_ENV, str(tmp_path / "tex-svg.js"))
    assert latex_available() and label("lr") == r"$\text{step size }\varepsilon$"


def test_theme_sizes_names_and_symbols():
    config = presets.default_config("fig2")
    data = presets.compute(config)
    wide = apply_theme(build_trajectories(config, data), width="double", height=200, font="serif", font_size=9)
    assert wide.layout.width == 672 and wide.layout.height == 200     # 7 in at 96 px/in; the panels fit
    fig = apply_theme(build_trajectories(config, data), width="single", height=200, font="serif", font_size=9)
    # 3.5 in; the three panels go two a row (viz.layout), and the figure grows to keep them readable
    assert fig.layout.width == 336 and fig.layout.height > 200
    assert fig.layout.font.size == pytest.approx(9 * PX_PER_PT)
    assert fig.layout.paper_bgcolor == "white" and "Serif" in fig.layout.font.family
    assert [optimizer_name(o, c) for o, c in (("gdm", False), ("gdm", True), ("adam", True), ("lion", True))] == \
        ["GDM", "C-GDM", "C-Adam", "C-Lion"]
    assert label("lr") == "step size ε" and label("beta") == "momentum β"
    assert label("lr", latex=True) == r"$\text{step size }\varepsilon$"
    with pytest.raises(ValueError, match="font"):
        apply_theme(fig, font="comic")


def test_figure_command_end_to_end(tmp_path):
    """One subprocess for the wiring: export, data and config; then the config reproduces it."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    run = lambda *args: subprocess.run([sys.executable, "-m", "dynamics", "figure", *args], cwd=tmp_path, env=env,
                                       capture_output=True, text=True, timeout=300)
    first = run("--preset", "fig2-ablation", "--out", "a.png", "--scale", "2", "--width", "single",
                "--data-out", "a.csv", "--config-out", "a.json")
    assert first.returncode == 0, first.stderr
    png = (tmp_path / "a.png").read_bytes()
    height = json.loads((tmp_path / "a.json").read_text())["figure"]["layout"]["height"]
    assert struct.unpack(">II", png[16:24]) == (2 * 336, 2 * height)
    second = run("--config", "a.json", "--out", "b.pdf", "--data-out", "b.csv")
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "b.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def test_figure_command_in_process(tmp_path, capsys):
    assert main(["figure", "--list-presets"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in presets.PRESETS)
    out = tmp_path / "wd.npz"
    assert main(["figure", "--preset", "wd-line", "--data-out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as npz:
        assert {"run", "t", "loss", "norm", "set_distance", "contour_loss"} <= set(npz.files)


@pytest.mark.parametrize("argv, option", [
    (["--preset", "nope", "--out", "x.pdf"], "--preset"),
    (["--preset", "fig2", "--out", "x.eps"], "--out"),
    (["--preset", "fig2"], "--out"),
    (["--out", "x.pdf"], "--preset"),
    (["--preset", "fig2", "--out", "x.pdf", "--width", "wide"], "--width"),
    (["--preset", "fig2", "--out", "x.pdf", "--scale", "0"], "--scale"),
    (["--preset", "fig2", "--out", "/no/such/folder/x.pdf"], "--out"),
    (["--config", "/no/such/file.json", "--out", "x.pdf"], "--config"),
])
def test_figure_command_bad_input_exits_2_with_one_line(tmp_path, monkeypatch, capsys, argv, option):
    monkeypatch.chdir(tmp_path)
    assert main(["figure", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and option in err


def test_figure_command_rejects_both_sources(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(dumps(presets.default_config("fig2")))
    assert main(["figure", "--preset", "fig2", "--config", str(path), "--out", str(tmp_path / "x.pdf")]) == 2
    assert "not both" in capsys.readouterr().err


def test_figure_csv_has_one_row_per_plotted_point(rendered):
    _, data = rendered["fig2"]
    lines = data_bytes(data.table, "csv").decode().splitlines()
    assert lines[0] == "run,lr,beta,t,w1,w2,loss,hamiltonian" and lines[1].startswith("GD,0.01,0.99,0,-5.0,5.0,")
    assert len(lines) == 1 + 3 * 1001
