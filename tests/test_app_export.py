"""The app's downloads (ui.downloads) and its Paper claims view (ui.views.claims),
driven by streamlit.testing.v1.AppTest.

AppTest cannot click a download button (the browser fetches the file), so the files are
made by the same helpers the buttons call, from the figure the app drew (rebuilt from
the chart's JSON spec) and checked independently: PDF magic, SVG parsed as XML, PNG
size from its header, CSV numbers against dynamics.rollout, claims against
dynamics.claims.run_claims.
"""
from __future__ import annotations

import csv
import io
import json
import struct
import xml.etree.ElementTree as ET

import numpy as np
import plotly.graph_objects as go
import pytest

from dynamics import Setup, make_hyper, rollout
from dynamics.claims import run_claims
from dynamics.configfile import ConfigError, dumps
from tests.test_app import assert_clean, charts, decode, default_app, new_app, show, trace  # noqa: F401 (fixture)
from toys import get_toy
from ui import compute, session
from ui.downloads import app_config, figure_bytes, has_raster, parse_app_config, static_figure
from ui.state import defaults, parse_query
from ui.views import VIEWS
from dynamics.claims import HOLDS
from figures.presets import default_config
from ui.views.claims import VERDICT, flatten
from ui.views.trajectories import export_data
from viz.contour import CLICK_GRID
from viz.export import data_bytes

SVG = "{http://www.w3.org/2000/svg}"
EXPORT_VIEWS = ("trajectories", "rates", "continuous", "inspector")     # views whose charts have export controls
SMALL_MAPS = {"r_n": "16", "r_steps": "200"}


def chart_figure(at, key: str) -> go.Figure:
    """The figure the app drew as chart ``key``."""
    return go.Figure(json.loads(next(el.proto.spec for el in at.get("plotly_chart") if el.key == key)))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def upload(at, name: str, data: bytes):
    at.file_uploader(key="_config_upload").set_value((name, data, "application/json"))
    return at.run()


# ----------------------------------------------------------------------------- modebar and controls

def test_every_chart_saves_svg_from_the_modebar_and_has_export_controls():
    at = new_app(SMALL_MAPS).run()
    seen = 0
    for view in VIEWS:
        show(at, view.slug)
        assert_clean(at)
        for el in at.get("plotly_chart"):
            options = json.loads(el.proto.config).get("toImageButtonOptions", {})
            assert options.get("format") == "svg", (view.slug, el.key)
            seen += 1
            if view.slug in EXPORT_VIEWS:
                button = at.get("download_button")
                figure = [b for b in button if b.key == f"_x_{el.key}_figure"]
                assert figure and figure[0].proto.deferred_file_id, el.key      # rendered on click only
                for kind in ("csv", "npz", "config"):
                    assert any(b.key == f"_x_{el.key}_{kind}" for b in button), (el.key, kind)
    assert seen >= 7


# ----------------------------------------------------------------------------- figure files

def test_trajectory_figure_exports_as_pdf_svg_and_png(default_app):
    fig = chart_figure(default_app, "traj_contour")
    assert fig.frames and fig.layout.sliders and any(t.name == CLICK_GRID for t in fig.data)
    static = static_figure(fig, "double", 2.5)
    assert not static.frames and not static.layout.sliders and not static.layout.updatemenus
    assert all(t.name != CLICK_GRID for t in static.data)
    # the static paths are the app's full paths (not an animation frame), drawn opaque
    gdm = trace(json.loads(static.to_json()), "GDM")
    np.testing.assert_array_equal(decode(gdm["x"]), decode(trace(json.loads(fig.to_json()), "GDM")["x"]))
    assert gdm["opacity"] == 1.0

    pdf = figure_bytes(fig, "pdf", theme="double", height_in=2.5)
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-64:]
    svg = ET.fromstring(figure_bytes(fig, "svg", theme="single"))
    assert svg.tag == SVG + "svg"
    assert float(svg.get("width")) == pytest.approx(3.5 * 96)                # one column of a paper
    assert svg.iter(SVG + "path") and not list(svg.iter(SVG + "image"))     # all vector: no heatmap
    assert not has_raster(fig)
    assert png_size(figure_bytes(fig, "png", scale=2.0, theme="single", height_in=2.5)) == (672, 480)
    assert png_size(figure_bytes(fig, "png", scale=1.0)) == (900, 560)      # as on screen


def test_rate_map_export_embeds_the_heatmap_as_an_image_and_says_so():
    at = new_app({"view": "rates", **SMALL_MAPS}).run()
    assert_clean(at)
    fig = chart_figure(at, "rate_maps")
    assert has_raster(fig)
    assert any("embedded in PDF and SVG as one image per panel" in c.value for c in at.caption)
    svg = ET.fromstring(figure_bytes(fig, "svg", scale=3.0))
    assert list(svg.iter(SVG + "image"))


def test_trajectory_data_reads_back_the_rollout_exactly():
    vals = defaults()
    ctx = session.context(vals)
    points, l_star = compute.minima(ctx.toy.name, ctx.params_key)
    trajs = {spec.label: compute.trajectory(spec) for spec in ctx.runs}
    table, arrays = export_data(ctx, trajs, l_star, compute.grid(ctx.toy.name, ctx.params_key))
    rows = list(csv.DictReader(io.StringIO(data_bytes(table, "csv").decode())))
    ref = rollout(Setup("gdm", cautious=True), get_toy("quad-repo"), make_hyper(lr=0.01, beta=0.99), 1000)
    cautious = [r for r in rows if r["run"] == "C-GDM"]
    assert len(rows) == 2 * 1001 and [int(r["t"]) for r in cautious] == list(range(1001))
    np.testing.assert_array_equal([float(r["w2"]) for r in cautious], ref.w[:, 1])
    np.testing.assert_array_equal([float(r["hamiltonian"]) for r in cautious], ref.hamiltonian)
    npz = np.load(io.BytesIO(data_bytes(table, "npz", arrays)))
    np.testing.assert_array_equal(npz["loss"][npz["run"] == "C-GDM"], ref.loss)
    assert npz["contour_loss"].shape == (160, 160) and float(npz["l_star"]) == 0.0


# ----------------------------------------------------------------------------- configuration

def state_of(at) -> dict:
    """The app's state: its URL (the app writes every setting there)."""
    values, warnings = parse_query(dict(at.query_params), extra_keys=("view",))
    assert warnings == []
    return values


def test_config_download_upload_round_trip_restores_the_view():
    query = {"toy": "rosenbrock", "p_b": "50.0", "start": "-1.0,2.0", "opt": "adam,gdm", "lr": "0.002",
             "beta": "0.8", "steps": "300", "variants": "cautious", "mask": "inner", "view": "inspector",
             "i_step": "7", "present": "true"}
    source = new_app(query).run()
    assert_clean(source)
    text = app_config(state_of(source), "inspector")
    assert json.loads(text)["versions"]["jax"]

    target = new_app().run()
    before = charts(target)["traj_contour"]["data"]
    upload(target, "saved.json", text.encode())
    assert_clean(target)
    assert target.session_state["_tab"] == "Step inspector"
    assert dict(target.query_params) == dict(source.query_params)
    assert charts(target)["inspector"]["data"] == charts(source)["inspector"]["data"]
    assert any("Loaded saved.json" in s.value.replace("\\", "") for s in target.success)   # shown as text: escaped
    show(target, "trajectories")
    assert charts(target)["traj_contour"]["data"] != before


@pytest.mark.parametrize("name, data, message", [
    ("notes.json", b"this is not json", "not valid JSON"),
    ("binary.json", bytes(range(128, 256)), "not UTF-8 text"),
    ("figure.json", dumps(default_config("fig2")).encode(), "not a configuration of this app"),
    ("bad-lr.json", None, "app_state.lr = '-1.0': expected a number in"),
])
def test_a_bad_config_file_is_a_visible_error_and_changes_nothing(name, data, message):
    if data is None:
        state = {**defaults(), "opt": ["gdm"]}
        state["lr"] = -1.0
        data = dumps({"app_state": state, "view": "trajectories"}).encode()
    at = new_app({"lr": "0.02"}).run()
    upload(at, name, data)
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]      # shown as text: markdown escaped
    assert len(errors) == 1 and message in errors[0], errors
    assert dict(at.query_params) == {"lr": "0.02"} and at.session_state["_tab"] == "Trajectories"


def test_a_file_written_before_a_setting_existed_loads_it_at_its_default():
    """A file lacks the settings added after it was written: they take their defaults,
    and a warning names them; the settings it has are kept."""
    state = {**defaults(), "lr": 0.02}
    older = {k: v for k, v in state.items() if k not in ("beta", "wd")}
    values, view, warnings = parse_app_config(dumps({"app_state": older, "view": "rates"}))
    assert view == "rates" and values["lr"] == 0.02
    assert values["beta"] == defaults()["beta"] and values["wd"] == defaults()["wd"]
    assert len(warnings) == 1 and "['beta', 'wd']" in warnings[0] and "take their defaults" in warnings[0]


def test_parse_app_config_rejects_an_unknown_view_and_toy():
    text = app_config(defaults(), "trajectories")
    for old, new, message in (('"view": "trajectories"', '"view": "nowhere"', "view 'nowhere'"),
                              ('"toy": "quad-repo"', '"toy": "nope"', "toy 'nope'")):
        with pytest.raises(ConfigError, match=message):
            parse_app_config(text.replace(old, new))
    values, view, warnings = parse_app_config(text)
    assert values == defaults() and view == "trajectories" and warnings == []


# ----------------------------------------------------------------------------- claims

def test_claims_view_shows_what_dynamics_claims_computes():
    at = new_app({"view": "claims"}).run()
    assert_clean(at)
    assert not at.table and not at.dataframe             # computed on request only
    at.button(key="_claims_run_button").click().run()
    assert_clean(at)
    ref = run_claims()
    summary, measured = at.table[0].value, at.dataframe[0].value
    assert list(summary.index) == [c.id for c in ref]
    assert list(summary["verdict"]) == [VERDICT[c.verdict] for c in ref]
    expected = [(c.id, k, float(v)) for c in ref for k, v in flatten(c.as_dict()["measured"]).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert list(zip(measured["claim"], measured["quantity"])) == [(c, k) for c, k, _ in expected]
    np.testing.assert_allclose(measured["value"].to_numpy(), [v for *_, v in expected], rtol=1e-9, atol=1e-300)
    held = sum(c.verdict == HOLDS for c in ref)
    assert any(f"{held} of {len(ref)} claims hold" in m.value for m in at.markdown)


def test_dark_theme_marks_are_light_on_screen_and_black_in_files():
    """On the dark page theme the start circle, the minima star and a black (GD) path are
    drawn near-white; a file made from that figure is drawn on white, so they are black
    again there (and nothing near-white is left)."""
    from viz.contour import PathStyle, contour_figure
    from viz.theme import DARK_INK, optimizer_colour
    toy = get_toy("quad-repo")
    w = rollout(Setup("gd"), toy, make_hyper(lr=0.01), 20).w
    fig = contour_figure(toy, toy.params(None), {"GD": w}, styles={"GD": PathStyle(
        optimizer_colour("gd", dark=True))}, dark=True)
    colours = {t.name: (t.marker.color, t.line.color) for t in fig.data if t.type == "scatter"}
    assert colours["start w₀"][0] == colours["minima"][0] == colours["GD"][1] == DARK_INK
    out = static_figure(fig)
    assert DARK_INK not in json.dumps(out.to_plotly_json(), default=str)
    assert {t.name: t.marker.color for t in out.data if t.type == "scatter"}["start w₀"] == "#000000"
    light = contour_figure(toy, toy.params(None), {"GD": w})          # the light theme: black as before
    assert {t.name: t.marker.color for t in light.data if t.type == "scatter"}["start w₀"] == "#000000"
