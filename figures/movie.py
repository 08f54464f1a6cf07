"""The movie of a paper figure's trajectories (``python -m dynamics animate``): the
presets that draw paths on the contours (fig2-paper, fig2, wd-line, wd-hyperbola) as a
viz.movie Scene, each run in the colour of its paper figure."""
from __future__ import annotations

from typing import Any

import numpy as np

from figures import presets
from toys import get_toy
from viz.contour import path_window
from viz.movie import MovieRun, Scene
from viz.paper import build_decay, build_trajectories
from viz.theme import DECAY_COLOURS, optimizer_colour

_UNICODE = {r"\,": " ", "_1": "₁", "_2": "₂", "^2": "²", "^3": "³", "^4": "⁴"}
MOVIE_PRESETS = tuple(name for name, p in presets.PRESETS.items() if p.build in (build_trajectories, build_decay))


def run_colour(config: dict[str, Any], run: dict[str, Any]) -> str:
    """A run's colour in its paper figure: by weight decay on the decay figures, by
    optimizer (cautious: the second of its pair) on the others."""
    if presets.PRESETS[config["preset"]].build is build_decay:
        return DECAY_COLOURS[run["decay"]]
    return optimizer_colour(run["optimizer"], run["cautious"])


def formula(toy, params: dict) -> str:
    """The toy's formula in Unicode (L(w) = 0.5 w₁² + 0.1 w₂²) where its LaTeX is that
    simple, else the toy's title."""
    text = toy.latex(params)
    for tex, uni in _UNICODE.items():
        text = text.replace(tex, uni)
    return toy.title if "\\" in text or "^" in text or "_" in text else text


def movie_problem(config: dict[str, Any]) -> str | None:
    """Why a validated configuration cannot be a movie (its preset draws no paths), or None."""
    if config["preset"] in MOVIE_PRESETS:
        return None
    return f"preset {config['preset']} draws no trajectories; movies are made of {', '.join(MOVIE_PRESETS)}"


def scene_of(config: dict[str, Any]) -> Scene:
    """The Scene of a validated configuration of a MOVIE_PRESETS preset: its runs
    computed (figures.presets.compute), the window of viz.contour.path_window."""
    table = presets.compute(config).table
    toy = get_toy(config["toy"])
    params = toy.params(config["toy_params"])
    runs = []
    for run in config["runs"]:
        keep = table["run"] == run["label"]
        runs.append(MovieRun(run["label"], run_colour(config, run), np.column_stack([table["w1"][keep],
                                                                                     table["w2"][keep]]),
                             table["loss"][keep]))
    window = path_window(toy.domain, {r.label: r.w for r in runs})
    return Scene(toy, params, runs, toy.minima(params), window, title=f"{config['preset']}: {formula(toy, params)}")
