r"""The Lesson tab's sentences: for each step, 2-4 sentences whose every number is read
from the runs the step shows (or from the closed forms of dynamics.rates for the
settings in use), never typed in.  A claim ("the loss rose", "H fell at every step")
is made only when the numbers say so; otherwise the sentence says what happened.

Conventions (docs/theory.md): w_{t+1} = w_t - eps u_t, heavy ball s <- beta s + g,
H = L + K.  A run "settles" at the first step after which L - L* stays below TOL.
Each ``step_<k>`` function raises ``Unavailable`` with a one-line reason when the
current settings lack what its sentences are about (e.g. GD was removed in the
sidebar); the view then shows that reason instead of the sentences.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from dynamics.rates import analytic_rate
from dynamics.rollout import loss_rises
from ui import compute
from ui.equations import MASK
from ui.presets import LESSON_BETA
from ui.state import NAMES

TOL = 1e-6          # the "reached the minimum" level of L - L*
DECAY_OPTIMIZER = "gdm"   # step 7: the weight-decay study's runs of this optimizer
ZIGZAG_STEPS = 20   # the first steps in which step 1 counts the crossings of the valley floor


class Unavailable(Exception):
    """The current settings lack what a step's sentences are about (the message says what)."""


def num(x: float, digits: int = 3) -> str:
    """x in LaTeX: plain below 10^4 and above 10^-3 (``digits`` significant), else a x 10^k."""
    if x == 0 or not math.isfinite(x) or 1e-3 <= abs(x) < 1e4:
        return f"{x:.{digits}g}"
    mantissa, exp = f"{x:.{digits - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    power = rf"10^{{{int(exp)}}}"
    return power if mantissa == "1" else (rf"-{power}" if mantissa == "-1" else rf"{mantissa} \times {power}")


def settle_step(loss: np.ndarray, l_star: float, tol: float = TOL) -> int | None:
    """The first step t after which L - L* <= tol for every later step; None when the
    last step is above tol (or not finite)."""
    above = ~(np.asarray(loss, np.float64) - l_star <= tol)
    if above[-1]:
        return None
    hits = np.nonzero(above)[0]
    return int(hits[-1]) + 1 if len(hits) else 0


def _reach(n: int | None, steps: int) -> str:
    return f"**{n} steps**" if n is not None else f"more than the {steps} steps run"


def _spec(ctx, optimizer: str, cautious: bool = False):
    label = ("C-" if cautious else "") + NAMES[optimizer]
    for spec in ctx.runs:
        if spec.label == label:
            return spec
    raise Unavailable(f"this step is about {label}, which the sidebar does not run")


def _eigen(ctx) -> tuple[float, float]:
    eig = ctx.toy.eigenvalues(ctx.toy.params(ctx.params)) if ctx.toy.eigenvalues else None
    if eig is None or min(eig) <= 0:
        raise Unavailable("this step's closed forms need a quadratic toy with positive eigenvalues")
    return float(min(eig)), float(max(eig))


def _run(spec, runs) -> tuple[dict, object]:
    """(trajectory, compute.Summary) of ``spec`` in ``runs`` (trajectories.runs's tuple)."""
    if runs[1] is None:
        raise Unavailable("this step measures L - L*, which needs a toy with a known minimum")
    return runs[2][spec.label], runs[3][spec.label]


def _stiff_crossings(ctx, w: np.ndarray, points: np.ndarray, n: int) -> int:
    """How often the component of w_t - w* along the Hessian's top eigenvector changed
    sign in the first n steps (the zig-zag across the valley)."""
    params = {k: jnp.asarray(v) for k, v in ctx.params.items()}
    hess = np.asarray(jax.hessian(lambda x: ctx.toy.value(x, params))(jnp.asarray(points[0])))
    z = (w[:n + 1] - points[0]) @ np.linalg.eigh(hess)[1][:, -1]
    return int(np.sum(np.sign(z[1:]) * np.sign(z[:-1]) < 0))


def step_1(ctx, runs) -> list[str]:
    lo, hi = _eigen(ctx)
    spec = _spec(ctx, "gd")
    traj, _ = _run(spec, runs)
    lr, kappa, n = spec.hyper.lr, hi / lo, min(ZIGZAG_STEPS, spec.steps)
    crossings = _stiff_crossings(ctx, traj["w"], runs[0], n)
    out = [rf"Gradient descent steps straight downhill, $w_{{t+1}} = w_t - \varepsilon \nabla L(w_t)$. Here the "
           rf"Hessian's eigenvalues are $\lambda_1 = {num(lo)}$ and $\lambda_2 = {num(hi)}$: the valley is "
           rf"$\kappa = \lambda_2/\lambda_1 = {num(kappa)}$ times steeper across than along."]
    across = rf"Across the valley each step multiplies the offset by $1 - \varepsilon\lambda_2 = {1 - lr * hi:.3f}$"
    if crossings:
        out.append(across + rf", so with $\varepsilon = {num(lr)}$ the iterate jumps from wall to wall: it "
                   rf"crossed the valley floor at **{crossings} of the first {n} steps**.")
    else:
        out.append(across + rf": with $\varepsilon = {num(lr)}$ it did not cross the valley floor in the first {n} "
                   rf"steps, so there is no zig-zag (that needs $\varepsilon > 1/\lambda_2 = {num(1 / hi)}$).")
    out.append(rf"Along the floor each step only multiplies it by $1 - \varepsilon\lambda_1 = {1 - lr * lo:.3f}$: "
               rf"GD needs {_reach(settle_step(traj['loss'], runs[1]), spec.steps)} to bring $L - L^*$ below "
               rf"${num(TOL)}$ for good.")
    out.append(rf"No step size does much better: stability needs $\varepsilon < 2/\lambda_2 = {num(2 / hi)}$, and "
               rf"the best rate of GD, $(\kappa - 1)/(\kappa + 1) = {(kappa - 1) / (kappa + 1):.3f}$ per step, is "
               r"set by $\kappa$ alone.")
    return out


def step_2(ctx, runs) -> list[str]:
    eig = _eigen(ctx)
    gd, gdm = _spec(ctx, "gd"), _spec(ctx, "gdm")
    lr, beta = gdm.hyper.lr, gdm.hyper.beta
    n_gd, n_gdm = (settle_step(_run(s, runs)[0]["loss"], runs[1]) for s in (gd, gdm))
    out = [r"The heavy ball keeps a velocity, $s_{t+1} = \beta s_t + \nabla L(w_t)$, "
           r"$w_{t+1} = w_t - \varepsilon s_{t+1}$: along the valley floor successive gradients agree and add up, "
           r"across it they alternate and cancel."]
    compare = (rf"With the same $\varepsilon = {num(lr)}$ and $\beta = {num(beta)}$, GDM brings $L - L^*$ below "
               rf"${num(TOL)}$ in {_reach(n_gdm, gdm.steps)}, GD in {_reach(n_gd, gd.steps)}")
    if n_gd is not None and n_gdm:
        compare += f": {n_gd / n_gdm:.1f} times " + ("fewer." if n_gdm < n_gd else "as many.")
    out.append(compare + ("." if not compare.endswith(".") else ""))
    rho_gd, rho_gdm = (float(analytic_rate(name, lr, beta, eig)) for name in ("gd", "gdm"))
    out.append(rf"Per step the error shrinks by the closed-form rate $\rho = {rho_gdm:.3f}$ for GDM against "
               rf"${rho_gd:.3f}$ for GD (the spectral radius of one linear step).")
    rises = len(_run(gdm, runs)[1].rises)
    if rises:
        out.append(f"The price: the loss of GDM is no longer monotone, it rose at {rises} of its {gdm.steps} steps "
                   "(ticks under the loss plot).")
    return out


def step_3(ctx, runs) -> list[str]:
    eig = _eigen(ctx)
    spec = _spec(ctx, "gdm")
    traj, summary = _run(spec, runs)
    lr, beta, rises = spec.hyper.lr, spec.hyper.beta, summary.rises
    if len(rises):
        out = [rf"With $\beta = {num(beta)}$ the velocity carries the iterate past the valley floor again and again: "
               rf"the loss rose at **{len(rises)} of the {spec.steps} steps** (ticks under the loss plot), by up to "
               rf"${num(summary.largest_rise)}$ at once."]
    else:
        out = [rf"With $\beta = {num(beta)}$ the loss never rose (by more than the sidebar's threshold) in "
               f"{spec.steps} steps: no overshoot shows here."]
    rho = float(analytic_rate("gdm", lr, beta, eig))
    out.append(rf"GDM needs {_reach(settle_step(traj['loss'], runs[1]), spec.steps)} to bring $L - L^*$ below "
               rf"${num(TOL)}$; its closed-form rate is $\rho = {rho:.3f}$ per step.")
    if not math.isclose(beta, LESSON_BETA):
        ref = spec._replace(hyper=spec.hyper._replace(beta=LESSON_BETA))
        rho_ref = float(analytic_rate("gdm", lr, LESSON_BETA, eig))
        verdict = "more momentum is slower" if rho > rho_ref else "more momentum is not slower here"
        out.append(rf"With step 2's $\beta = {num(LESSON_BETA)}$ it needed "
                   rf"{_reach(settle_step(compute.trajectory(ref)['loss'], runs[1]), spec.steps)} at "
                   rf"$\rho = {rho_ref:.3f}$: {verdict}.")
    return out


def step_4(ctx, runs) -> list[str]:
    spec = _spec(ctx, "gdm")
    traj, summary = _run(spec, runs)
    lr, beta = spec.hyper.lr, spec.hyper.beta
    h_rises = loss_rises(traj["hamiltonian"], ctx.values["rise_rel"], runs[1])[0]
    dh = float(np.nanmax(np.diff(traj["hamiltonian"])))
    out = [r"A heavy ball with friction has an energy, $H = L(w) + \tfrac{\varepsilon}{2}\lVert s \rVert^2$: height "
           r"plus motion. Along the flow $\dot w = -\varepsilon s$, $\dot s = \nabla L(w) - (1 - \beta)s$ it obeys "
           r"$\dot H = -\varepsilon(1 - \beta)\lVert s \rVert^2 \le 0$: friction only removes energy, while $L$ and "
           r"the kinetic part trade it back and forth."]
    seen = (rf"With $\varepsilon = {num(lr)}$ and $\beta = {num(beta)}$ the loss rose at "
            rf"**{len(summary.rises)} of the {spec.steps} steps**")
    if len(h_rises) == 0 and dh <= 0:
        out.append(seen + rf", while $H$ fell at every step (its largest one-step change is ${num(dh)}$).")
    elif len(h_rises) == 0:
        out.append(seen + rf", while $H$ never rose by more than the sidebar's threshold (largest rise ${num(dh)}$).")
    else:
        out.append(seen + rf"; $H$ rose too, at **{len(h_rises)} steps** (largest rise ${num(dh)}$): these steps "
                   r"are too large for the iterates to follow the flow; a smaller $\varepsilon$ restores the picture.")
    if len(summary.rises) and len(h_rises) == 0:
        out.append("So a rising loss is no failure: the energy that contains it keeps falling, and the rises are the "
                   "ball swinging up the other wall.")
    return out


def step_5(ctx, runs) -> list[str]:
    base, cautious = _spec(ctx, "gdm"), _spec(ctx, "gdm", cautious=True)
    (t_base, s_base), (t_c, s_c) = _run(base, runs), _run(cautious, runs)
    masked = float(np.nanmean(t_c["masked_fraction"][1:]))
    out = [r"The cautious step keeps only the coordinates of the update that agree with the gradient: "
           r"$w_{t+1} = w_t - \varepsilon\,\alpha\,\phi(u_t \odot g_t) \odot u_t$ with "
           rf"${MASK[cautious.setup.mask][0]}$, so no kept coordinate pushes uphill."]
    out.append(rf"The loss of C-GDM rose at **{len(s_c.rises)} of {cautious.steps} steps**, that of GDM at "
               rf"**{len(s_base.rises)}**; the mask dropped {masked:.0%} of the coordinates per step on average.")
    out.append(rf"C-GDM brings $L - L^*$ below ${num(TOL)}$ in {_reach(settle_step(t_c['loss'], runs[1]), cautious.steps)}"
               rf", GDM in {_reach(settle_step(t_base['loss'], runs[1]), base.steps)}.")
    return out


def step_6(ctx, panels, theory, beta_axis) -> list[str]:
    lo, hi = _eigen(ctx)
    exact = panels[0]
    if exact is None or theory is None or theory.optimum is None or exact.best is None:
        raise Unavailable("this step's sentences read the closed form of GD or GDM on a quadratic")
    b, o, kappa = exact.best, theory.optimum, hi / lo
    rho_gd = (kappa - 1) / (kappa + 1)
    edge = lambda beta: 2 * (1 + beta) / hi
    return [rf"Each cell runs {exact.label} with its own $(\varepsilon, \beta)$ and is coloured by the rate $\rho$ "
            r"by which the error shrinks per step; the left panel is the closed form, the others simulate.",
            rf"The best cell of the closed form is $\varepsilon = {num(b['lr'])}$, $\beta = {num(b['beta'])}$ with "
            rf"$\rho = {b['rate']:.3f}$, beside the exact optimum $\varepsilon^* = (2/(\sqrt{{\lambda_1}} + "
            rf"\sqrt{{\lambda_2}}))^2 = {num(o['lr'])}$, $\beta^* = {num(o['beta'])}$, $\rho^* = (\sqrt\kappa - 1)/"
            rf"(\sqrt\kappa + 1) = {o['rate']:.3f}$; GD's best rate is ${rho_gd:.3f}$, so the heavy ball needs about "
            rf"{math.log(o['rate']) / math.log(rho_gd):.2g} times fewer steps.",
            rf"Grey cells diverge: the edge of stability is $\varepsilon = 2(1 + \beta)/\lambda_2$ (dashed), from "
            rf"${num(edge(beta_axis[0]))}$ at $\beta = {num(beta_axis[0])}$ to ${num(edge(beta_axis[-1]))}$ at "
            rf"$\beta = {num(beta_axis[-1])}$; the optimum sits at {o['lr'] / edge(o['beta']):.0%} of the edge at its "
            r"$\beta$."]


def step_7(study, wd: float) -> list[str]:
    runs = {mode: run.end for (opt, mode), run in study.runs.items() if opt == DECAY_OPTIMIZER}
    none, decoupled, cautious = runs["none"], runs["decoupled"], runs["cautious"]
    star = cautious.pareto_point
    where = ("every point of a whole set minimises $L$; the one of least norm is" if study.residual is not None
             else "the minimiser of $L$ is")
    out = [rf"On ${study.toy.latex(study.params)}$ {where} $w^* = ({num(star[0])}, {num(star[1])})$, "
           rf"$\lVert w^* \rVert = {num(float(np.linalg.norm(star)), 4)}$."]
    out.append(rf"Without decay GDM stops where it first meets the set, at $\lVert w_T \rVert = {num(none.norm, 4)}$; "
               rf"decoupled decay, $u \leftarrow u + \lambda w$ with $\lambda = {num(wd)}$, pulls against the "
               rf"gradient and ends off the set, at distance ${num(decoupled.set_distance)}$ from it.")
    ends = (rf"Cautious decay, $u \leftarrow u + \lambda\,\mathbb 1[u \odot w \ge 0] \odot w$, only shrinks "
            rf"coordinates that the update already moves towards 0: GDM ends at $\lVert w_T \rVert = "
            rf"{num(cautious.norm, 4)}$, ${num(cautious.pareto_distance)}$ from $w^*$ and "
            rf"${num(cautious.set_distance)}$ from the set")
    if cautious.pareto_distance < none.pareto_distance and cautious.set_distance < decoupled.set_distance:
        ends += ": it reached the set and slid along it towards the minimum-norm solution."
    else:
        ends += "."
    return out + [ends]
