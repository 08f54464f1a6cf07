"""dev.py, the set-up script: `app` installs Chromium the way `test` does (root with
apt-get) and otherwise says once what is missing and starts the app without figure
export; `test` stops instead.  Nothing is installed or started here: the installer and
the commands are recorded; except in the last test, which starts the app as
`python3 dev.py app` does and reads what it says."""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dev


def record(monkeypatch, root: bool) -> list:
    calls = []
    monkeypatch.setitem(dev.DEBIAN_PACKAGES, "chromium", "/no/such/chromium")
    monkeypatch.setattr(dev.os, "geteuid", lambda: 0 if root else 1000)
    monkeypatch.setattr(dev.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(dev, "setup_venv", lambda: None)
    monkeypatch.setattr(dev.subprocess, "run", lambda cmd, **kw: calls.append(("run", cmd)))
    monkeypatch.setattr(dev.subprocess, "call", lambda cmd, **kw: calls.append(("call", cmd)) or 0)
    monkeypatch.setattr(dev, "run_app", lambda args, env: calls.append(("app", args)) or 0)
    return calls


def test_app_as_root_installs_chromium_then_starts(monkeypatch):
    calls = record(monkeypatch, root=True)
    assert dev.main(["app"]) == 0
    assert ("run", ["apt-get", "install", "-y", "-qq", "chromium"]) in calls
    assert calls[-1] == ("app", [])


def test_app_without_root_says_what_is_missing_and_starts_anyway(monkeypatch, capsys):
    calls = record(monkeypatch, root=False)
    assert dev.main(["app"]) == 0
    out = capsys.readouterr().out
    assert "missing chromium" in out and "apt-get install chromium" in out and "without figure export" in out
    assert [c[0] for c in calls] == ["app"]


def test_tests_without_root_stop_before_pytest(monkeypatch, capsys):
    calls = record(monkeypatch, root=False)
    assert dev.main(["test"]) == 1
    assert calls == [] and "missing chromium" in capsys.readouterr().out


def test_app_opens_its_first_page_once_when_the_server_has_started():
    """dev.py app passes streamlit's output through and, once streamlit names its URL,
    opens the first page by Streamlit's protocol (ui.warmup): the imports and the first
    page's programs are done before the first visitor arrives."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "dev.py", "app", "--server.headless=true", f"--server.port={port}",
                             "--browser.gatherUsageStats=false"], cwd=Path(dev.__file__).parent,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and reader.is_alive() and not any("warm-up:" in line for line in lines):
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    out = "".join(lines)
    assert f":{port}" in out, out                                   # streamlit's own lines come through
    assert "warming the server up" in out, out
    warm = next((line for line in lines if "warm-up:" in line), "")
    figures = re.search(r"first page drawn on the server in [0-9.]+ s \((\d+) figures\)", warm)
    assert figures and int(figures[1]) > 0, out
