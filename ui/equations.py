r"""The equations the Learn view shows, as LaTeX, beside each optimizer's own (its update,
flow and Hamiltonian come from the registry, ``spec_of(name).equations(setup)``): the
cautious mask and compensation, the weight decay and SAM.  They restate dynamics.caution,
dynamics.decay and dynamics.sam (docs/theory.md, Sections 2-3 and 7); arXiv 2411.16085 is
"Cautious Optimizers", arXiv 2510.12402 "Cautious Weight Decay", arXiv 2010.01412 SAM."""
from __future__ import annotations

MASK = {
    "elementwise": (r"\phi_i = \mathbb 1[x_i > 0],\quad x = u \odot g", "Algorithm 1"),
    "elementwise-ge": (r"\phi_i = \mathbb 1[x_i \ge 0],\quad x = u \odot g",
                       "the non-strict variant: a coordinate with uᵢ = 0 or gᵢ = 0 is kept"),
    "inner": (r"\phi = \mathbb 1[u \cdot g \ge 0] \text{ on every coordinate}", "Theorem 2.5"),
    "threshold": (r"\phi = \mathbb 1\!\left[g \cdot u \ge -\tfrac{\mu\varepsilon}{2}\|u\|^2\right]", "Theorem 2.7"),
    "smooth": (r"\phi_i = \operatorname{sigmoid}(x_i / \tau)\ \ (\tau \to 0:\ \text{the hard mask})",
               "a smooth mask for ODE solvers"),
}
COMPENSATION = {
    "none": (r"\alpha = 1", ""),
    "mean": (r"\alpha = 1 / \max(\operatorname{mean}(\phi),\, 10^{-3})",
             "Algorithm 1's 1/(mean(φ) + ε), with the mean clamped at 10⁻³ as timm does; for a hard mask the same "
             "number as Algorithm 2 (C-AdamW)'s d/‖φ‖₀"),
    "count": (r"\alpha = d / (\operatorname{nnz}(\phi) + 1)", "Algorithm 3 (C-Lion) only"),
}
DECAY = {
    "none": None,
    "decoupled": r"u \leftarrow u + \lambda\, w \quad (w \mathrel{-}= \varepsilon\lambda w)",
    "cautious": r"u \leftarrow u + \lambda\, \mathbb 1[u \odot w \ge 0] \odot w",
}


def cautious_update() -> str:
    """The cautious step and its flow, one above the other."""
    return (r"\begin{gathered} w_{t+1} = w_t - \varepsilon\, \alpha\, \phi(u_t \odot g_t) \odot u_t \\ "
            r"\dot w = -\varepsilon\, \alpha\, \phi(u \odot g) \odot u \end{gathered}")


# Theorem 2.3 of arXiv 2411.16085: the cautious flow decreases H at least as fast as the base flow.
H_CAUTIOUS = (r"\dot H_{\text{cautious}} - \dot H_{\text{base}} = -\varepsilon \sum_i \big(\alpha\, \phi(x_i)\, "
              r"x_i - x_i\big) \le 0 \quad \text{when} \quad \alpha\, \phi(x)\, x \ge \max(x, 0), "
              r"\ \text{i.e.}\ \alpha \ge 1")

# SAM (arXiv 2010.01412, dynamics.sam): the base optimizer's u is computed from the gradient at the
# ascended point; a cautious mask still compares u with g at w.
SAM_UPDATE = (r"\begin{gathered} g_t = \nabla L(w_t),\quad \tilde g_t = \nabla L\!\left(w_t + \rho\, "
              r"\frac{g_t}{\|g_t\|}\right) \\ u_t = u(\tilde g_t),\quad w_{t+1} = w_t - \varepsilon\, u_t "
              r"\quad (\text{cautious: } \alpha\, \phi(u_t \odot g_t) \odot u_t) \end{gathered}")
SAM_NOTE = ("Two gradients per step; the perturbation goes up the gradient. With SAM, H = L + K need not fall: along "
            "w' = −ε ∇L(w + ρn), dL/dt = −ε g(w)·g(w + ρn) can be positive (docs/theory.md, Section 7), and SAM "
            "has no flow here (its field is discontinuous where g = 0).")
# Learning-rate schedules (dynamics.schedules): step t uses eps_t = lr f(t-1), lr the peak.
SCHEDULE = {
    "constant": (r"\varepsilon_t = \mathrm{lr}", "no schedule"),
    "warmup-cosine": (r"f(k) = \begin{cases} k/W & k < W \\ F + (1-F)\,\tfrac12\big(1 + \cos\tfrac{\pi (k-W)}{T-W}"
                      r"\big) & k \ge W \end{cases}", "optax.warmup_cosine_decay_schedule"),
    "step": (r"f(k) = \gamma^{\lfloor k/K \rfloor}", "optax.exponential_decay(staircase=True)"),
    "one-cycle": (r"f(k) = \begin{cases} a + (1-a)\,\tfrac12\big(1 - \cos\tfrac{\pi k}{W}\big) & k < W \\ "
                  r"b + (1-b)\,\tfrac12\big(1 + \cos\tfrac{\pi (k-W)}{T-W}\big) & k \ge W \end{cases},\ "
                  r"a = \tfrac1{25},\ b = \tfrac{1}{25 \cdot 10^4}", "optax.cosine_onecycle_schedule"),
}
SCHEDULED_STEP = r"w_{t+1} = w_t - \varepsilon_t\, u_t,\qquad \varepsilon_t = \mathrm{lr}\cdot f(t)\ \ (t = 0, 1, \dots)"
# docs/theory.md, Section 4.8: K is linear in eps, so along the flow with eps(t) H gains eps'/eps K.
H_SCHEDULE = (r"\dot H = \dot H\big|_{\varepsilon\ \text{fixed}} + \dot\varepsilon\, \frac{\partial K}{\partial "
              r"\varepsilon} = \dot H\big|_{\varepsilon\ \text{fixed}} + \frac{\dot\varepsilon}{\varepsilon}\, K")
CLIP = r"g_t \leftarrow g_t \min\!\big(1,\ c / \|g_t\|\big)"
