"""dev.py, the set-up script: `app` installs Chromium the way `test` does (root with
apt-get) and otherwise says once what is missing and starts the app without figure
export; `test` stops instead.  Nothing is installed or started here: the installer and
the commands are recorded."""
import dev


def record(monkeypatch, root: bool) -> list:
    calls = []
    monkeypatch.setitem(dev.DEBIAN_PACKAGES, "chromium", "/no/such/chromium")
    monkeypatch.setattr(dev.os, "geteuid", lambda: 0 if root else 1000)
    monkeypatch.setattr(dev.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(dev, "setup_venv", lambda: None)
    monkeypatch.setattr(dev.subprocess, "run", lambda cmd, **kw: calls.append(("run", cmd)))
    monkeypatch.setattr(dev.subprocess, "call", lambda cmd, **kw: calls.append(("call", cmd)) or 0)
    return calls


def test_app_as_root_installs_chromium_then_starts(monkeypatch):
    calls = record(monkeypatch, root=True)
    assert dev.main(["app"]) == 0
    assert ("run", ["apt-get", "install", "-y", "-qq", "chromium"]) in calls
    assert calls[-1][0] == "call" and calls[-1][1][1:3] == ["run", "app.py"]


def test_app_without_root_says_what_is_missing_and_starts_anyway(monkeypatch, capsys):
    calls = record(monkeypatch, root=False)
    assert dev.main(["app"]) == 0
    out = capsys.readouterr().out
    assert "missing chromium" in out and "apt-get install chromium" in out and "without figure export" in out
    assert [c[0] for c in calls] == ["call"]


def test_tests_without_root_stop_before_pytest(monkeypatch, capsys):
    calls = record(monkeypatch, root=False)
    assert dev.main(["test"]) == 1
    assert calls == [] and "missing chromium" in capsys.readouterr().out
