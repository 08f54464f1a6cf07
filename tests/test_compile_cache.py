"""The persistent compilation cache (dynamics.compile_cache): the folder and its key
(a new python, jax, jaxlib or project source gives a new folder; DYNAMICS_COMPILE_CACHE
moves or switches it off), a program compiled by one process and found by the next (a
cache hit counted by jax.monitoring's events, and the entry's file in the folder), and
the per-thread report of the program being compiled."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from dynamics import compile_cache
from dynamics.compile_cache import DEFAULT_BASE, ENV, cache_dir, cache_key, source_digest

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = dict(python="3.11.7", jax_version="0.10.2", jaxlib_version="0.10.2", project="abc")


def test_key_names_every_version_and_changes_with_each():
    assert cache_key(**VERSIONS) == "py3.11.7-jax0.10.2-jaxlib0.10.2-srcabc"
    keys = {cache_key(**{**VERSIONS, field: "9.9"}) for field in VERSIONS}
    assert len(keys) == 4 and cache_key(**VERSIONS) not in keys


def test_source_digest_follows_the_project_source(tmp_path):
    for package in compile_cache.SOURCE_PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "a.py").write_text("x = 1\n")
    before = source_digest(tmp_path)
    assert source_digest(tmp_path) == before and len(before) == 12
    (tmp_path / "toys" / "a.py").write_text("x = 2\n")
    assert source_digest(tmp_path) != before
    (tmp_path / "toys" / "a.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("not source")          # only the packages' .py files count
    assert source_digest(tmp_path) == before


def test_folder_default_moved_and_off(tmp_path):
    assert cache_dir({}, key="k") == DEFAULT_BASE / "k" == ROOT / ".cache" / "jax" / "k"
    assert cache_dir({ENV: str(tmp_path)}, key="k") == tmp_path / "k"
    for off in ("off", "OFF", "0", "no", "false", "none", " off "):
        assert cache_dir({ENV: off}) is None
    assert cache_dir({}) == DEFAULT_BASE / cache_key()       # the running versions


def test_the_folder_is_ignored_by_git():
    out = subprocess.run(["git", "check-ignore", "-q", ".cache/jax/some-key/entry"], cwd=ROOT)
    assert out.returncode == 0


COMPILE = """
import collections, json, sys
import jax, jax.numpy as jnp
from dynamics import compile_cache
events = collections.Counter()
jax.monitoring.register_event_listener(lambda name, **kw: events.update([name.rsplit('/', 1)[-1]]))
folder = compile_cache.enable()
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)   # this small program compiles in < MIN_COMPILE_S
f = jax.jit(lambda x: jnp.cumsum(jnp.sin(x) * 3.0) - 1.5)
f(jnp.arange(7.0)).block_until_ready()
print(json.dumps(dict(folder=str(folder), **events)))
"""


def run_compile(env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", COMPILE], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_the_program_the_first_compiled(tmp_path):
    first = run_compile({ENV: str(tmp_path)})
    folder = Path(first["folder"])
    assert folder.parent == tmp_path and folder.name == cache_key()
    assert first.get("cache_hits", 0) == 0 and first["cache_misses"] >= 1
    entries = sorted(p.name for p in folder.iterdir() if p.name.startswith("jit__lambda"))
    assert len(entries) == 1                                    # the program's entry was written
    second = run_compile({ENV: str(tmp_path)})
    assert second["cache_hits"] >= 1 and second.get("cache_misses", 0) == 0
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("jit__lambda")) == entries


def test_off_writes_nothing_and_reads_nothing(tmp_path):
    off = run_compile({ENV: "off", "JAX_COMPILATION_CACHE_DIR": str(tmp_path)})
    assert off["folder"] == "None" and off.get("task_disabled_cache") == 1
    assert "cache_misses" not in off and "cache_hits" not in off and not any(tmp_path.iterdir())


def test_watch_names_the_program_compiling_in_its_thread():
    compile_cache.WATCH.start()
    me, seen, other = threading.get_ident(), [], []

    def look(event, value, **kwargs):            # runs inside the compile, after WATCH's own listener
        if event == compile_cache.COMPILE_EVENT:
            seen.append(compile_cache.WATCH.current(me))
            other.append(compile_cache.WATCH.current(me + 1))

    jax.monitoring.register_scalar_listener(look)
    try:
        jax.jit(lambda x: x * 7.25 + 0.5, inline=False)(jnp.ones(5)).block_until_ready()
    finally:
        jax.monitoring.unregister_scalar_listener(look)
    assert seen and seen[-1][0] == "jit(<lambda>)" and 0 <= seen[-1][1] < 60
    assert other[-1] is None
    assert compile_cache.WATCH.current(me) is None             # the compile has ended


@pytest.mark.parametrize("name", ["jit(rollout)"])
def test_notice_names_the_program_and_says_whether_the_cache_keeps_it(name):
    from ui.compiling import message
    kept, lost = message(name, 3.2, cached=True), message(name, 3.2, cached=False)
    assert kept.startswith(f"Compiling {name} (3 s so far)") and lost.startswith(f"Compiling {name} (3 s so far)")
    assert "kept in the compilation cache" in kept and "cache is off" not in kept
    assert "cache is off (DYNAMICS_COMPILE_CACHE)" in lost and "kept in" not in lost


def test_active_follows_enable(tmp_path):
    """enable() with the cache off makes active() False, with a folder True (the notice
    reads it); the process's setting is restored afterwards."""
    saved = (jax.config.jax_enable_compilation_cache, jax.config.jax_compilation_cache_dir)
    try:
        compile_cache.enable({compile_cache.ENV: "off"})
        assert not compile_cache.active()
        compile_cache.enable({compile_cache.ENV: str(tmp_path)})
        assert compile_cache.active()
    finally:
        jax.config.update("jax_enable_compilation_cache", saved[0])
        jax.config.update("jax_compilation_cache_dir", saved[1])
