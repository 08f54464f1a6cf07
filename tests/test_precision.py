"""No side effects at import, and no silent float32 (dynamics.precision): in a fresh
process, importing the project's packages leaves JAX's 64-bit mode as it was; a
float64 run then raises Float64Disabled naming dynamics.enable_float64, a float32 run
works, and a float64 run gives float64 arrays once the mode is on (by
``enable_float64()`` or inside ``jax.enable_x64(True)``)."""
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
    import jax
    before = jax.config.jax_enable_x64
    import cli.main, dynamics, figures.presets, toys, viz.paper  # noqa: F401
    from dynamics import Float64Disabled, Setup, enable_float64, make_hyper, rollout
    from toys import get_toy
    assert jax.config.jax_enable_x64 is before is False, "an import changed jax_enable_x64"
    toy = get_toy("quad-repo")
    try:
        rollout(Setup(dtype="float64"), toy, make_hyper("float32"), 3)
        raise SystemExit("a float64 run computed without the 64-bit mode")
    except Float64Disabled as err:
        assert "dynamics.enable_float64()" in str(err) and "\\n" not in str(err), err
    try:
        make_hyper("float64")
        raise SystemExit("make_hyper gave float64 numbers without the 64-bit mode")
    except Float64Disabled:
        pass
    assert rollout(Setup(dtype="float32"), toy, make_hyper("float32"), 3).w.dtype == "float32"
    assert toy.minima().dtype == "float64"
    with jax.enable_x64(True):
        assert rollout(Setup(), toy, make_hyper(), 3).w.dtype == "float64"
    assert not jax.config.jax_enable_x64
    enable_float64()
    assert rollout(Setup(), toy, make_hyper(), 3).loss.dtype == "float64"
    print("ok")
""")


def test_import_changes_no_setting_and_float64_needs_the_64_bit_mode():
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
