"""The tabs of the app: one module per view, each with ``render(ctx: ui.session.Context)``.

To add a view, write ``ui/views/<name>.py`` with a ``render(ctx)`` function and add a
``View`` entry below; its slug is its name in the URL (``?view=<slug>``).  Modules are
imported when first drawn, so this registry has no import-time dependencies.
"""
from __future__ import annotations

import importlib
from typing import NamedTuple


class View(NamedTuple):
    slug: str
    label: str
    module: str

    def render(self, ctx) -> None:
        importlib.import_module(self.module).render(ctx)


VIEWS: list[View] = [
    View("trajectories", "Trajectories", "ui.views.trajectories"),
    View("lesson", "Lesson", "ui.views.lesson"),      # second: a class starts here, next to the figures it borrows
    View("rates", "Rate maps", "ui.views.rates"),
    View("continuous", "Continuous time", "ui.views.continuous"),
    View("inspector", "Step inspector", "ui.views.inspector"),
    View("learn", "Learn", "ui.views.learn"),
    View("decay", "Weight decay", "ui.views.decay"),
    View("basins", "Basins", "ui.views.basins"),
    View("claims", "Paper claims", "ui.views.claims"),
    View("compare", "Compare", "ui.views.compare"),
]
DEFAULT_VIEW = VIEWS[0].slug


def label_of(slug: str) -> str | None:
    return next((v.label for v in VIEWS if v.slug == slug), None)


def slug_of(label: str | None) -> str:
    return next((v.slug for v in VIEWS if v.label == label), DEFAULT_VIEW)
