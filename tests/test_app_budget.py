"""The app's work budget (ui.guard): the probe's rate-map URL, a basin map above a
limit set by DYNAMICS_WORK_LIMIT, a too-fine ODE solve, each shows one warning and
computes nothing; a bad DYNAMICS_WORK_LIMIT is one error; the heavy slots; the server's
thread first."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dynamics import budget
from tests.test_app import new_app
from ui import compute, guard

ROOT = Path(__file__).resolve().parents[1]
PROBE = {"toy": "quad-k4", "view": "rates", "r_n": "256", "r_steps": "5000", "noise_sigma": "1", "r_seeds": "64"}


@pytest.fixture
def calls(monkeypatch):
    """Counts of the heavy computations the app started (ui.compute's rate maps, basins, flows)."""
    counts = {"rate_map": 0, "basins": 0, "flow": 0}
    for name in counts:
        real = getattr(compute, name)

        def counted(*args, _name=name, _real=real, **kwargs):
            counts[_name] += 1
            return _real(*args, **kwargs)
        monkeypatch.setattr(compute, name, counted)
    return counts


def warnings_of(at) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("Too large")]


def test_the_probe_url_gets_one_warning_and_no_computation(calls):
    t0 = time.perf_counter()
    at = new_app(PROBE).run()
    seconds = time.perf_counter() - t0
    assert not at.exception and not at.error
    (text,) = warnings_of(at)
    assert text.startswith("Too large: the rate maps = 1.68e+11 gradient evaluations (256 x 256 cells x 5000 steps "
                           "x 64 seeds x 2 runs with noise), above the limit of 1e+09; lower the cells per axis")
    assert "DYNAMICS_WORK_LIMIT" in text and text.endswith("Nothing was computed.")
    assert calls["rate_map"] == 0 and seconds < 20, seconds
    assert not at.get("plotly_chart")


def test_the_environment_variable_sets_the_apps_limit(monkeypatch, calls):
    monkeypatch.setenv(budget.ENV, "1e5")
    at = new_app({"toy": "quad-k4", "view": "basins", "b_n": "16", "b_steps": "1000"}).run()
    (text,) = warnings_of(at)
    assert "the basin maps = 5.12e+05 gradient evaluations (16 x 16 cells x 1000 steps x 2 runs)" in text
    assert "limit of 1e+05" in text and calls["basins"] == 0
    monkeypatch.setenv(budget.ENV, "1e6")
    at = new_app({"toy": "quad-k4", "view": "basins", "b_n": "16", "b_steps": "1000"}).run()
    assert not warnings_of(at) and not at.exception and calls["basins"] == 2


def test_a_fine_ode_solve_is_refused(monkeypatch, calls):
    monkeypatch.setenv(budget.ENV, "1e6")
    at = new_app({"view": "continuous", "steps": "5000", "o_substeps": "200"}).run()
    (text,) = warnings_of(at)
    # the flow: 5000 x 200 substeps x 4 (rk4) = 4e6; the steps beside it: 5000
    assert "the flow and the steps = 4e+06 gradient evaluations" in text and calls["flow"] == 0


def test_a_bad_environment_variable_is_one_error(monkeypatch, calls):
    monkeypatch.setenv(budget.ENV, "lots")
    at = new_app({"toy": "quad-k4", "view": "rates", "r_n": "16"}).run()
    assert [e.value for e in at.error] == ["The server is misconfigured: DYNAMICS_WORK_LIMIT must be a number of "
                                           "gradient evaluations >= 1 such as 5e9; got 'lots'"]
    assert not at.exception and calls["rate_map"] == 0


def test_at_most_two_heavy_computations_run_at_once():
    shown, running, peak, lock = [], [0], [0], threading.Lock()

    def work():
        with guard.slot(shown.append):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.3)
            with lock:
                running[0] -= 1
    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == guard.VIEWS_AT_ONCE == 2
    assert shown and set(shown) == {guard.WAITING}        # the three that waited said so


def test_trajectories_above_a_tiny_limit_are_refused_in_every_view_that_runs_them(monkeypatch):
    monkeypatch.setenv(budget.ENV, "100")
    at = new_app({"opt": "gd,gdm", "steps": "300"}).run()          # Trajectories: 4 runs (base and cautious)
    (text,) = warnings_of(at)
    assert "the trajectories = 1.2e+03 gradient evaluations (300 steps x 4 runs), above the limit of 100" in text
    assert not at.exception and not at.get("plotly_chart")


KEEP_RESPONSIVE = """
import gc, json, os, sys, threading
from ui import guard

started, done = threading.Event(), threading.Event()
seen = {}

def drawing():                      # a view's thread: it starts a worker after the call, as XLA does
    started.set()
    done.wait()
    worker = threading.Thread(target=lambda: seen.update(worker=os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
    worker.start()
    worker.join()
    seen["drawing"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

view = threading.Thread(target=drawing)
view.start()
started.wait()
frozen_before = gc.get_freeze_count()
guard.keep_the_server_responsive()
done.set()
view.join()
print(json.dumps(dict(seen, main=os.getpriority(os.PRIO_PROCESS, os.getpid()), switch=sys.getswitchinterval(),
                      frozen_before=frozen_before, frozen=gc.get_freeze_count())))
"""


def test_the_server_thread_comes_first():
    """After the call (made by every run of app.py) the process's main thread, the
    server's event loop, keeps its priority; a drawing thread and the worker it starts
    afterwards run at DRAWING_NICE; the lock changes hands every SWITCH_INTERVAL_S; the
    objects alive at the first run are frozen out of the garbage collector."""
    out = subprocess.run([sys.executable, "-c", KEEP_RESPONSIVE], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout)
    inherited = os.getpriority(os.PRIO_PROCESS, 0)         # 0 unless the tests themselves run under nice
    assert seen["main"] == inherited and seen["drawing"] == seen["worker"] == max(guard.DRAWING_NICE, inherited)
    assert guard.DRAWING_NICE == 10
    assert seen["switch"] == guard.SWITCH_INTERVAL_S == 0.001
    assert seen["frozen_before"] == 0 and seen["frozen"] > 10_000
