"""Sweeps on several processes (``sweep --coordinator HOST:PORT --num-processes N
--process-id K``; dynamics.processes, cli.processes): the shares of the chunks, the
options' one-line refusals, jobs that cannot run (no coordinator, a missing process,
a taken port, processes given different sweeps), and local jobs of two and
three processes on 127.0.0.1 whose process 0 writes the one-process map bit for bit
(noise-free, and noisy with seeds split unevenly: one process gets no chunk)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from itertools import chain
from pathlib import Path

import numpy as np
import pytest

from cli.main import main
from dynamics.processes import share

ROOT = Path(__file__).resolve().parents[1]
GRID = ["--lr-range", "0.01:0.5:8", "--beta-range", "0:0.9:8", "--steps", "50"]
# 7 x 5 cells x 3 seeds = 105 cells; on this machine's 2 cores, 2 chunks of 53 (the last
# padded), so of 3 processes one runs no chunk
NOISY = ["--lr-range", "0.01:0.5:7", "--beta-range", "0:0.9:5", "--steps", "50", "--noise-sigma", "0.01",
         "--seeds", "3"]


@pytest.mark.parametrize("processes", [1, 2, 3, 4, 7])
def test_shares_run_every_chunk_once_in_order_and_differ_by_at_most_one(processes):
    for n_chunks in range(0, 23):
        shares = [share(n_chunks, k, processes) for k in range(processes)]
        assert list(chain(*shares)) == list(range(n_chunks))
        sizes = [len(s) for s in shares]
        assert max(sizes) - min(sizes) <= 1 and sum(sizes) == n_chunks


def test_one_process_runs_every_chunk():
    assert share(5) == range(5)


@pytest.mark.parametrize("argv, option, needle", [
    (["--coordinator", "127.0.0.1:1234"], "--coordinator", "all three or none"),
    (["--num-processes", "2", "--process-id", "0"], "--coordinator", "all three or none"),
    (["--coordinator", "127.0.0.1:1234", "--num-processes", "2", "--process-id", "2"], "--process-id", "got 2"),
    (["--coordinator", "127.0.0.1:1234", "--num-processes", "2", "--process-id", "-1"], "--process-id", "got -1"),
    (["--coordinator", "127.0.0.1:1234", "--num-processes", "0", "--process-id", "0"], "--num-processes", ">= 1"),
    (["--coordinator", "localhost", "--num-processes", "2", "--process-id", "0"], "--coordinator", "HOST:PORT"),
    (["--coordinator", ":1234", "--num-processes", "2", "--process-id", "0"], "--coordinator", "HOST:PORT"),
    (["--coordinator", "h:70000", "--num-processes", "2", "--process-id", "0"], "--coordinator", "HOST:PORT"),
    (["--coordinator", "h:x", "--num-processes", "2", "--process-id", "0"], "--coordinator", "HOST:PORT"),
    (["--connect-timeout", "0"], "--connect-timeout", "> 0"),
])
def test_bad_process_options_exit_2_with_one_line(capsys, argv, option, needle):
    assert main(["sweep", *GRID, *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and f"argument {option}:" in err and needle in err, err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_path, argv: list[str], k: int, count: int, port: int, timeout: str = "60") -> subprocess.Popen:
    """Process k of a ``count``-process sweep job on 127.0.0.1:port, with --json and
    --out p{k}.npz."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "dynamics", "sweep", *argv, "--json", "--out",
                             str(tmp_path / f"p{k}.npz"), "--coordinator", f"127.0.0.1:{port}",
                             "--num-processes", str(count), "--process-id", str(k), "--connect-timeout", timeout],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)


def _finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    """(exit status, stdout, stderr) of each process, once all have ended."""
    done = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        done.append((p.returncode, out, err))
    return done


def _job(tmp_path, count: int, argv: list[str]) -> list[tuple[int, str, str]]:
    """Run every process of a ``count``-process job on a free port."""
    port = _free_port()
    return _finish([_start(tmp_path, argv, k, count, port) for k in range(count)])


def _one_process(capsys, tmp_path, argv):
    """The one-process run's (JSON, saved arrays)."""
    assert main(["sweep", *argv, "--json", "--out", str(tmp_path / "one.npz")]) == 0
    return json.loads(capsys.readouterr().out), np.load(tmp_path / "one.npz")


@pytest.mark.parametrize("processes, argv", [(2, GRID), (3, NOISY)], ids=["two-noise-free", "three-noisy-uneven"])
def test_process_0_writes_the_one_process_map_bit_for_bit(capsys, tmp_path, processes, argv):
    done = _job(tmp_path, processes, argv)
    for k, (code, out, err) in enumerate(done):
        assert code == 0, err
        assert (out != "") == (k == 0)                     # only process 0 prints ...
        assert (tmp_path / f"p{k}.npz").exists() == (k == 0)  # ... and writes
        assert all(line.startswith("sweep: ") for line in err.splitlines()), err   # progress only
    want_json, want = _one_process(capsys, tmp_path, argv)
    assert json.loads(done[0][1]) == want_json               # every map, best cell and config
    got = np.load(tmp_path / "p0.npz")
    assert sorted(got.files) == sorted(want.files)
    for name in want.files:
        assert got[name].dtype == want[name].dtype and np.array_equal(got[name], want[name]), name


def test_jobs_that_cannot_run_fail_with_one_line(tmp_path):
    port = _free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = _finish([_start(tmp_path, GRID, 1, 2, _free_port(), timeout="2"),   # no process 0
                        _start(tmp_path, GRID, 0, 2, _free_port(), timeout="2"),   # no process 1
                        _start(tmp_path, GRID, 0, 2, taken.getsockname()[1]),      # the port is in use
                        _start(tmp_path, GRID, 0, 2, port),                        # two different sweeps
                        _start(tmp_path, [*GRID, "--steps", "60"], 1, 2, port)])
    for (code, out, err), needle in zip(done, ["did not assemble at 127.0.0.1:", "did not assemble at 127.0.0.1:",
                                               "cannot serve the job on port", "process(es) 1 were given another",
                                               "process(es) 1 were given another"]):
        lines = err.strip().splitlines()
        assert code == 1 and out == "" and len(lines) == 1 and needle in lines[0], err
    assert "within 2 s" in done[0][2]
    assert not any((tmp_path / f"p{k}.npz").exists() for k in (0, 1))
