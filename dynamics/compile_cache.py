"""The persistent compilation cache: JAX's own on-disk cache of compiled programs
(``jax_compilation_cache_dir``), in a project folder, so that a second start of the
app or the command line loads its programs instead of compiling them again.

The folder is ``<repo>/.cache/jax/<key>`` (git ignores ``.cache/``); the key names the
python, jax and jaxlib versions and a digest of the project's own source (dynamics/ and
toys/, which define every compiled program), so that a new version of any of them starts
an empty folder instead of reading entries written by another.  The environment variable
DYNAMICS_COMPILE_CACHE moves the base folder (``DYNAMICS_COMPILE_CACHE=/some/folder``:
the key folder is made under it) or switches the cache off (``off``, ``0``, ``no``,
``false`` or ``none``).  Deleting the folder clears the cache.

``enable()`` must run before the first compilation of the process (the app and the
command line call it first).  ``CompileWatch`` reports, per thread, which program JAX is
compiling at the moment (jax.monitoring's backend-compile events), for the app's
"compiling ..." notice.
"""
from __future__ import annotations

import hashlib
import os
import platform
import threading
import time
from pathlib import Path
from typing import Mapping

import jax
import jaxlib

ENV = "DYNAMICS_COMPILE_CACHE"
OFF = ("off", "0", "no", "false", "none")
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASE = ROOT / ".cache" / "jax"
SOURCE_PACKAGES = ("dynamics", "toys")   # the packages whose code is traced into the compiled programs
MIN_COMPILE_S = 0.0         # every program is written: loading even a small one is cheaper than compiling it
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"    # jax.monitoring: XLA's compile (or cache load)


def source_digest(root: Path = ROOT) -> str:
    """The first 12 hex digits of a SHA-256 over the names and bytes of every .py file
    of SOURCE_PACKAGES under ``root``: the project's version as far as compiled programs go."""
    digest = hashlib.sha256()
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def cache_key(python: str | None = None, jax_version: str | None = None, jaxlib_version: str | None = None,
              project: str | None = None) -> str:
    """The name of the cache folder for these versions (default: the running ones)."""
    return (f"py{python or platform.python_version()}-jax{jax_version or jax.__version__}"
            f"-jaxlib{jaxlib_version or jaxlib.__version__}-src{project or source_digest()}")


def cache_dir(env: Mapping[str, str] | None = None, key: str | None = None) -> Path | None:
    """The cache folder that ``env`` (default os.environ) asks for: None when
    DYNAMICS_COMPILE_CACHE is one of OFF, else ``<base>/<key>`` with base the variable's
    folder or DEFAULT_BASE."""
    value = (os.environ if env is None else env).get(ENV, "").strip()
    if value.lower() in OFF:
        return None
    return Path(value or DEFAULT_BASE).expanduser() / (key or cache_key())


def active() -> bool:
    """Whether this process writes its compiled programs to a persistent cache folder."""
    return bool(jax.config.jax_enable_compilation_cache and jax.config.jax_compilation_cache_dir)


def enable(env: Mapping[str, str] | None = None) -> Path | None:
    """Point JAX's persistent compilation cache at ``cache_dir(env)`` (created if
    missing) and return it; with the cache off, turn JAX's cache off and return None.
    Call it before the process's first compilation; calling it again changes nothing."""
    folder = cache_dir(env)
    if folder is None:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    jax.config.update("jax_enable_compilation_cache", True)
    if jax.config.jax_compilation_cache_dir != str(folder):
        folder.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(folder))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_S)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return folder


class CompileWatch:
    """Which program each thread is compiling now: ``current(thread)`` is (name,
    seconds so far) while JAX compiles (or loads from the cache) a program in that
    thread, else None.  One process-wide instance, ``WATCH``, listens to
    jax.monitoring from its first ``start()``."""

    def __init__(self) -> None:
        self._now: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._started = False

    def start(self) -> None:
        with self._lock:
            if not self._started:
                jax.monitoring.register_scalar_listener(self._begin)
                jax.monitoring.register_event_duration_secs_listener(self._end)
                self._started = True

    def _begin(self, event: str, value: float, **kwargs) -> None:
        if event == COMPILE_EVENT:
            self._now[threading.get_ident()] = (str(kwargs.get("fun_name", "a program")), time.monotonic())

    def _end(self, event: str, duration: float, **kwargs) -> None:
        if event == COMPILE_EVENT:
            self._now.pop(threading.get_ident(), None)

    def current(self, thread: int) -> tuple[str, float] | None:
        entry = self._now.get(thread)
        return None if entry is None else (entry[0], time.monotonic() - entry[1])


WATCH = CompileWatch()
