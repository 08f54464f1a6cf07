"""Figure bundles for a paper (figures.bundle, ``figure --out-dir``, the app's Paper figures
panel) and the physical size options of ``python -m dynamics figure``: page sizes read
from the PDF by pdfinfo, bundles rebuilt bit for bit from their own JSON, the app's files
equal to the command line's."""
import io
import json
import re
import subprocess
import zipfile

import pytest

from cli.main import main
from figures import presets
from figures.bundle import bundle_files, caption, latex_snippet, tex_escape
from ui.paper_figures import bundle_zip, command, figure_file_bytes, paper_config

PARTS = ("pdf", "csv", "json", "tex")


def page_size(path) -> tuple[float, float]:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    w, h = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups()
    return float(w), float(h)


def test_preset_all_writes_every_bundle_and_each_json_rebuilds_it_bit_for_bit(tmp_path):
    first, second = tmp_path / "figs", tmp_path / "again"
    assert main(["figure", "--preset", "all", "--out-dir", str(first), "--width", "single"]) == 0
    assert sorted(p.name for p in first.iterdir()) == sorted(f"{n}.{x}" for n in presets.PRESETS for x in PARTS)
    for name in presets.PRESETS:
        width, _ = page_size(first / f"{name}.pdf")
        assert abs(width - 252) <= 1                       # 3.5 in
        saved = json.loads((first / f"{name}.json").read_text())["figure"]
        assert saved["preset"] == name and saved["layout"]["width"] == "single"
        tex = (first / f"{name}.tex").read_text()
        body = "\n".join(line for line in tex.splitlines() if not line.startswith("%"))
        assert f"\\includegraphics{{{name}.pdf}}" in body and "width=" not in body      # natural size
        assert f"{saved['steps']} steps" in tex and "\\begin{figure}" in tex    # one column: figure, not figure*
        assert main(["figure", "--config", str(first / f"{name}.json"), "--out-dir", str(second)]) == 0
    for path in first.iterdir():
        assert (second / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("argv, size", [
    (["--width", "3.3in", "--height", "3.5in"], (3.3 * 72, 3.5 * 72)),
    (["--width", "double", "--height", "288"], (504, 216)),          # a bare number is pixels: 288 px = 3 in
    (["--width", "480", "--height", "4in"], (360, 288)),
])
def test_width_and_height_give_the_pdf_page_in_points(tmp_path, argv, size):
    out = tmp_path / "f.pdf"
    assert main(["figure", "--preset", "fig2-ablation", "--out", str(out), "--scale", "7", *argv]) == 0
    width, height = page_size(out)
    assert abs(width - size[0]) <= 1 and abs(height - size[1]) <= 1, (width, height)


def test_a_height_too_short_for_the_panels_is_raised_said_and_recorded(tmp_path, capsys):
    out, config = tmp_path / "f.pdf", tmp_path / "f.json"
    assert main(["figure", "--preset", "fig2-ablation", "--width", "single", "--height", "1in", "--out", str(out),
                 "--config-out", str(config)]) == 0
    note = re.search(r"note: 1.00 in was too short .* the figure is ([\d.]+) in tall", capsys.readouterr().out)
    drawn = json.loads(config.read_text())["figure"]["layout"]["height"]
    _, height = page_size(out)
    assert drawn > 96 and abs(height - drawn * 0.75) <= 1 and float(note.group(1)) == pytest.approx(drawn / 96, abs=0.01)
    again = tmp_path / "again.pdf"
    assert main(["figure", "--config", str(config), "--out", str(again)]) == 0
    assert "note:" not in capsys.readouterr().out and again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize("argv, option", [
    (["--preset", "all", "--out", "x.pdf"], "--preset"),
    (["--preset", "all", "--out-dir", "figs", "--data-out", "x.csv"], "--preset"),
    (["--preset", "fig2", "--out", "x.pdf", "--width", "3cm"], "--width"),
    (["--preset", "fig2", "--out", "x.pdf", "--height", "0in"], "--height"),
    (["--preset", "fig2", "--out-dir", "afile"], "--out-dir"),
    (["--preset", "fig2", "--out-dir", "no/such/parent/figs"], "--out-dir"),
])
def test_bad_layout_and_bundle_options_exit_2_with_one_line(tmp_path, monkeypatch, capsys, argv, option):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    assert main(["figure", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and option in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]       # nothing written


def test_app_panel_files_are_the_command_lines(tmp_path, monkeypatch):
    choice = ("fig2-ablation", "3.3in", 2.5, "sans", 2.0)
    config = paper_config(*choice)
    line = command(*choice, "pdf")
    monkeypatch.chdir(tmp_path)
    assert main(line.split()[3:]) == 0                  # python -m dynamics | figure ...
    assert figure_file_bytes(config, "pdf") == (tmp_path / "fig2-ablation.pdf").read_bytes()
    with zipfile.ZipFile(io.BytesIO(bundle_zip(config))) as z:
        assert {n: z.read(n) for n in z.namelist()} == bundle_files(config)[0]


def test_caption_states_the_settings_and_escapes_text():
    config = presets.default_config("fig2-paper")
    text = caption(config)
    assert "$w_0 = (1, 1)$" in text and "1000 steps" in text
    gd, gdm = config["runs"][0], config["runs"][1]
    assert f"{tex_escape(gd['label'])} ($\\varepsilon = {gd['lr']:g}$)" in text          # GD has no momentum
    assert f"($\\varepsilon = {gdm['lr']:g}$, $\\beta = {gdm['beta']:g}$)" in text
    assert tex_escape("a_b 50% {x} ε") == r"a\_b 50\% \{x\} $\varepsilon$"
    assert "\\begin{figure*}" in latex_snippet(config, "f.pdf")       # the preset is double width


def test_app_panel_shows_the_command_for_the_chosen_layout():
    from tests.test_app import assert_clean, new_app
    at = new_app().run()
    at.selectbox(key="_paper_preset").set_value("fig3").run()
    at.selectbox(key="_paper_width").set_value("inches").run()
    at.number_input(key="_paper_inches").set_value(4.5).run()
    assert_clean(at)
    height = presets.PRESETS["fig3"].config["layout"]["height"] / 96
    assert [c.value for c in at.code if "dynamics figure" in c.value] == [
        f"python -m dynamics figure --preset fig3 --width 4.5in --height {round(height, 2)!r}in --font serif "
        "--scale 4.0 --out fig3.pdf"]


def test_app_chart_download_has_the_physical_width_and_font_chosen(tmp_path):
    from tests.test_app import new_app
    from tests.test_app_export import chart_figure
    from ui.downloads import figure_bytes
    fig = chart_figure(new_app().run(), "traj_contour")
    path = tmp_path / "chart.pdf"
    path.write_bytes(figure_bytes(fig, "pdf", scale=3.0, theme="3.3in", height_in=2.0, font="sans"))
    width, height = page_size(path)
    assert abs(width - 3.3 * 72) <= 1 and abs(height - 144) <= 1
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Sans" in fonts and "Serif" not in fonts


def test_without_chromium_the_app_says_so_once_and_disables_figure_files(monkeypatch):
    from tests.test_app import new_app
    monkeypatch.setenv("BROWSER_PATH", "/no/such/chromium")
    at = new_app().run()
    notices = [w.value for w in at.warning if "unavailable on this server" in w.value]
    assert len(notices) == 1 and "/no/such/chromium" in notices[0]
    figure_buttons = [b for b in at.get("download_button") if b.proto.label.startswith("Figure")]
    assert figure_buttons and all(b.proto.disabled for b in figure_buttons)
    at.number_input(key="lr").set_value(0.02).run()
    assert not [w for w in at.warning if "unavailable on this server" in w.value]       # once
