"""The fixed command lines whose output must not change under refactoring.

Each case is (name, argv).  ``record.py`` ran them once through ``python -m dynamics``
before the architecture change (issue 11) and stored the JSON (runs, sweeps) or the
data table and configuration (figures) under tests/golden/; tests/test_golden.py runs
them again and compares value for value.
"""
OPTIMIZERS = ("gd", "gdm", "nesterov", "adam", "lion", "signum", "rmsprop", "adagrad", "nadam", "amsgrad",
              "laprop", "adamw")
RUN = ["run", "--steps", "40", "--json"]

RUNS = [(f"run-{name}", RUN + ["--optimizer", name, "--lr", "0.02"]) for name in OPTIMIZERS] + [
    (f"run-c{name}", RUN + ["--optimizer", name, "--cautious"]) for name in ("gdm", "nesterov", "adam", "lion",
                                                                            "signum", "nadam", "laprop")] + [
    ("run-gdm-damp", RUN + ["--dampening", "--beta", "0.95"]),
    ("run-cgdm-inner-none", RUN + ["--cautious", "--mask", "inner", "--compensation", "none"]),
    ("run-cgdm-threshold-count", RUN + ["--cautious", "--mask", "threshold", "--compensation", "count", "--mu", "2"]),
    ("run-cgdm-smooth", RUN + ["--cautious", "--mask", "smooth", "--tau", "0.01"]),
    ("run-lion-cwd", RUN + ["--optimizer", "lion", "--toy", "valley-line", "--weight-decay-mode", "cautious",
                            "--wd", "0.1", "--lr", "0.05"]),
    ("run-adam-dwd-f32", RUN + ["--optimizer", "adam", "--weight-decay-mode", "decoupled", "--wd", "0.01",
                                "--dtype", "float32"]),
    ("run-adam-raw", RUN + ["--optimizer", "adam", "--no-bias-correction", "--beta2", "0.9"]),
    ("run-rosen-noise", RUN + ["--toy", "rosenbrock", "--lr", "0.001", "--cautious", "--noise-sigma", "0.5",
                               "--seed", "7"]),
    ("run-objective", RUN + ["--objective", "(1-x)^2 + 3*(y-x^2)^2", "--start", "-1,1", "--lr", "0.02"]),
    ("run-quadratic-params", RUN + ["--toy", "quadratic", "--toy-param", "kappa=10", "--toy-param", "angle=0.3",
                                    "--optimizer", "nesterov", "--lr", "0.05"]),
    ("ode-gdm-semi", RUN + ["--mode", "ode", "--solver", "semi-implicit", "--substeps", "2"]),
    ("ode-adam-rk4", RUN + ["--mode", "ode", "--solver", "rk4", "--optimizer", "adam", "--substeps", "4"]),
    ("ode-lion-euler", RUN + ["--mode", "ode", "--solver", "euler", "--optimizer", "lion", "--cautious"]),
    ("ode-nesterov-adaptive", RUN + ["--mode", "ode", "--solver", "adaptive", "--optimizer", "nesterov"]),
    ("ode-lion-smooth", RUN + ["--mode", "ode", "--solver", "adaptive", "--optimizer", "lion", "--lion-sign",
                               "smooth", "--sign-tau", "0.01"]),
]

SWEEP = ["sweep", "--toy", "quad-k4", "--lr-range", "0.01:0.5:6", "--lr-scale", "linear", "--beta-range",
         "0:0.9:5", "--steps", "200", "--json"]
SWEEPS = [
    ("sweep-gdm-auto", SWEEP),
    ("sweep-gdm-estimate", SWEEP + ["--rate-method", "estimate"]),
    ("sweep-cgdm", SWEEP + ["--cautious"]),
    ("sweep-nesterov", SWEEP + ["--optimizer", "nesterov"]),
    ("sweep-adam-rosen", ["sweep", "--toy", "rosenbrock", "--optimizer", "adam", "--lr-range", "0.001:0.1:4",
                          "--beta-range", "0.5:0.95:3", "--steps", "300", "--json"]),
    ("sweep-noise", SWEEP + ["--noise-sigma", "0.1", "--seeds", "3"]),
]

FIGURES = [(f"figure-{name}", name) for name in ("fig2-paper", "fig2", "fig2-ablation", "fig3", "wd-line",
                                                  "wd-hyperbola")]
