#!/usr/bin/env python3
"""Set up and run the project with nothing but Python 3.11 and pip.

    python3 dev.py app     # create .venv, install pinned requirements, streamlit run app.py
                           # (and open its first page once on the server: ui/warmup.py)
    python3 dev.py test    # the same set-up, then the whole test suite (pytest): the tests
                           # without a browser on up to 4 workers (pytest-xdist), then the
                           # browser tests alone; with arguments, pytest with those arguments

The virtual environment is rebuilt only when requirements*.txt change.  Figure export
(PDF / SVG / PNG files) runs in Debian's Chromium, and the tests also need poppler-utils:
as root with apt-get available both commands install what is missing.  Otherwise
``test`` stops and says what to install, and ``app`` says it once and starts anyway
(the app then disables its file export; the plots' own camera button still saves SVG).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
REQS = [ROOT / "requirements.txt", ROOT / "requirements-lock.txt"]
SERVER_URL = re.compile(r"URL: https?://[^\s/:]+:(\d+)(/\S*)?")      # streamlit's "Local URL: http://localhost:8501"
DEBIAN_PACKAGES = {"chromium": "/usr/bin/chromium", "poppler-utils": "/usr/bin/pdftoppm"}


def say(msg: str) -> None:
    print(f"[dev] {msg}", flush=True)


def setup_venv() -> None:
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in REQS)).hexdigest()
    stamp = VENV / ".requirements-sha256"
    if stamp.exists() and stamp.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        say(f"creating virtual environment {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    say("installing pinned requirements (first time: a few minutes)")
    subprocess.run([str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(REQS[0]), "-c", str(REQS[1])], check=True)
    stamp.write_text(digest)


def ensure_debian_packages(packages: list[str], needed_for: str) -> bool:
    """Install the missing ``packages`` (root with apt-get); False if some stay missing."""
    missing = [pkg for pkg in packages if not Path(DEBIAN_PACKAGES[pkg]).exists()]
    if not missing:
        return True
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing Debian packages: {' '.join(missing)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        return True
    say(f"missing {', '.join(missing)}, needed for {needed_for}: install them "
        f"(Debian: sudo apt-get install {' '.join(missing)})")
    return False


def run_app(args: list[str], env: dict) -> int:
    """``streamlit run app.py``, its output passed through; once it names its URL, one
    visit of the first page by Streamlit's protocol (ui/warmup.py) in the background, so
    that the imports and the first page's programs are ready before the first visitor."""
    proc = subprocess.Popen([str(BIN / "streamlit"), "run", "app.py", *args], env={**env, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    warmup = None
    try:
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            url = SERVER_URL.search(line)
            if warmup is None and url:
                say("warming the server up: opening the first page once (imports, compiled programs)")
                warmup = subprocess.Popen([str(PY), "-m", "ui.warmup", f"http://127.0.0.1:{url[1]}{url[2] or '/'}"],
                                          env=env)
        return proc.wait()
    except KeyboardInterrupt:                    # the terminal's Ctrl-C reached streamlit too
        return proc.wait()
    finally:
        if warmup is not None and warmup.poll() is None:
            warmup.kill()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"app", "test", "setup"}:
        print(__doc__)
        return 2
    os.chdir(ROOT)
    setup_venv()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if argv[0] == "setup":
        return 0
    if argv[0] == "app":
        if not ensure_debian_packages(["chromium"], "figure export (PDF, SVG, PNG files)"):
            say("starting the app without figure export")
        return run_app(argv[1:], env)
    if not ensure_debian_packages(list(DEBIAN_PACKAGES), "the browser and export tests"):
        return 1
    return run_tests(argv[1:], env)


def run_tests(args: list[str], env: dict) -> int:
    """pytest ``args``; without any, the whole suite in two runs: the tests that drive no
    browser on one worker per core (at most 4, pytest-xdist), then those marked
    ``browser`` on their own, because they bound how fast the app's server answers
    while browsers draw on the same cores.  The exit status is the first failing run's."""
    pytest = [str(PY), "-m", "pytest"]
    if args:
        return subprocess.call([*pytest, *args], env=env)
    say("tests without a browser, one worker per core (at most 4)")
    first = subprocess.call([*pytest, "-m", "not browser", "-n", "auto", "--maxprocesses=4"], env=env)
    say("browser tests, alone on the machine")
    second = subprocess.call([*pytest, "-m", "browser"], env=env)
    return first or second


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
