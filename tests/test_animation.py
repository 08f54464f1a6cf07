"""The trajectory animation's frames (viz.animation): at every frame each trail is the
run's true path w_0 .. w_t (every iterate, none skipped), the marker is w_t, and the
readout is the run's own L and H at t; frames per speed; the figure stays small."""
from __future__ import annotations

import base64
import json

import numpy as np
import plotly.graph_objects as go
import pytest

from toys import get_toy
from viz.animation import MAX_FRAMES, READOUT, Readout, add_playback, frame_steps, still
from viz.contour import CLICK_GRID, contour_figure

LABELS = ("GDM", "C-GDM", "Adam")


def _runs(steps: int, seed: int = 0) -> tuple[dict, dict]:
    """Three made-up paths (random walks) and their L, H arrays."""
    rng = np.random.default_rng(seed)
    paths = {label: np.cumsum(rng.normal(size=(steps + 1, 2)), axis=0) * 0.05 for label in LABELS}
    readouts = {label: Readout(rng.lognormal(size=steps + 1), rng.normal(size=steps + 1)) for label in LABELS}
    return paths, readouts


def _figure(steps: int = 1000, speed: float = 25, loop: bool = False):
    paths, readouts = _runs(steps)
    toy = get_toy("quad-repo")
    fig = contour_figure(toy, toy.params({}), paths, n=40, path_opacity=0.35, click_grid=True)
    add_playback(fig, paths, readouts, speed=speed, loop=loop)
    return fig, paths, readouts


def _decode(v):
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return np.asarray(v, dtype=float)


def _resolved(spec: dict) -> dict[str, dict[int, dict]]:
    """Each named step frame merged with its base frame, as plotly.js computes a frame:
    frame name -> trace index -> that trace's data."""
    by_name = {f["name"]: f for f in spec["frames"]}
    out = {}
    for f in spec["frames"]:
        if "baseframe" not in f:
            continue
        merged = {}
        for frame in (by_name[f["baseframe"]], f):
            for i, d in zip(frame["traces"], frame["data"]):
                merged[i] = {**merged.get(i, {}), **d}
        out[f["name"]] = merged
    return out


def test_every_frame_draws_the_true_path_up_to_its_step_and_the_runs_own_values():
    fig, paths, readouts = _figure()
    spec = json.loads(fig.to_json())
    names = [t["name"] for t in spec["data"]]
    frames = _resolved(spec)
    assert list(frames) == [str(t) for t in range(1001)]          # a frame per step at 25 steps/s
    now, values = names.index("wₜ"), names.index(READOUT)
    for name, data in frames.items():
        t = int(name)
        assert set(data) == set(range(len(names)))                # each frame draws every trace
        for j, label in enumerate(LABELS):
            past, recent = (data[names.index(f"{label} trail{s}")] for s in ("", " (recent)"))
            trail = np.r_[np.c_[_decode(past["x"]), _decode(past["y"])],
                          np.c_[_decode(recent["x"]), _decode(recent["y"])][1:]]
            np.testing.assert_array_equal(trail, paths[label][:t + 1])     # every iterate, bit for bit
            assert (_decode(data[now]["x"])[j], _decode(data[now]["y"])[j]) == tuple(paths[label][t])
            loss, ham = (float(x) for x in data[values]["text"][3 + 2 * j: 5 + 2 * j])
            assert loss == pytest.approx(readouts[label].loss[t], rel=5e-4)
            assert ham == pytest.approx(readouts[label].hamiltonian[t], rel=5e-4, abs=1e-12)
        assert data[values]["text"][0] == f"t = {t}"


def test_fast_frames_skip_steps_but_not_iterates_and_the_figure_stays_small():
    fig, paths, _ = _figure(speed=100)
    spec = json.loads(fig.to_json())
    frames = _resolved(spec)
    assert list(frames) == [str(t) for t in range(0, 1001, 4)]   # 100 steps/s at 25 frames/s
    names = [t["name"] for t in spec["data"]]
    data = frames["400"]
    past, recent = data[names.index("GDM trail")], data[names.index("GDM trail (recent)")]
    trail = np.r_[np.c_[_decode(past["x"]), _decode(past["y"])], np.c_[_decode(recent["x"]), _decode(recent["y"])][1:]]
    np.testing.assert_array_equal(trail, paths["GDM"][:401])
    assert len(fig.to_json()) < 2.5e6
    big, _, _ = _figure(speed=25)
    assert len(big.to_json()) < 5e6                                # 1000 steps x 3 runs, a frame per step
    ts, ms = frame_steps(5000, 25)
    assert len(ts) <= MAX_FRAMES and ts[-1] == 5000 and ms == pytest.approx(1000 * ts[1] / 25)
    assert frame_steps(1000, 10)[1] == 100 and list(frame_steps(7, 500)[0]) == [0, 7]


def test_the_controls_are_valid_plotly_and_loop_repeats_the_run():
    fig, _, _ = _figure(steps=200, speed=25, loop=True)
    layout = go.Layout(fig.layout.to_plotly_json())               # validated here (skipped when built)
    back, play, pause, step = layout.updatemenus[0].buttons
    names = [str(t) for t in range(201)]
    assert list(step.args[0]) == ["200"] + names and list(back.args[0]) == ["0"] + names[::-1]
    assert len(play.args[0]) > 2 * len(names) and list(play.args[0][:len(names) + 1]) == names + ["0"]
    assert play.args[1]["frame"]["duration"] == 40 and [s.label for s in layout.sliders[0].steps] == names
    once, _, _ = _figure(steps=200, speed=25)
    assert list(once.layout.updatemenus[0].buttons[1].args[0]) == names


def test_a_still_copy_has_no_animation_and_keeps_the_paths():
    fig, paths, _ = _figure(steps=50)
    spec = still(fig.to_plotly_json())
    names = [t["name"] for t in spec["data"]]
    assert "frames" not in spec and "sliders" not in spec["layout"] and "xaxis2" not in spec["layout"]
    assert not any("trail" in n or n in ("wₜ", READOUT) for n in names) and CLICK_GRID in names
    assert all(spec["data"][names.index(label)]["opacity"] == 1.0 for label in LABELS)
    assert spec["layout"]["height"] == 560 and spec["layout"]["margin"]["b"] == 50   # contour_figure's own
