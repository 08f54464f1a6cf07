r"""The equations the Learn view shows, as LaTeX, for a RunSpec: the discrete update,
the flow (time unit = one step), the Hamiltonian H = L + K and its rate, the cautious
mask and compensation, and the weight decay.  They restate the tables of
dynamics.optimizers, dynamics.flows, dynamics.caution and dynamics.decay (docs/theory.md,
Sections 1-4); arXiv 2411.16085 is "Cautious Optimizers", arXiv 2510.12402 "Cautious
Weight Decay"."""
from __future__ import annotations

UPDATE = {
    "gd": r"w_{t+1} = w_t - \varepsilon\, g_t",
    "gdm": r"s_{t+1} = \beta\, s_t + g_t, \qquad w_{t+1} = w_t - \varepsilon\, s_{t+1}",
    "gdm-damp": r"m_{t+1} = \beta\, m_t + (1-\beta)\, g_t, \qquad w_{t+1} = w_t - \varepsilon\, m_{t+1}",
    "nesterov": r"s_{t+1} = \beta\, s_t + g_t, \qquad w_{t+1} = w_t - \varepsilon\,(g_t + \beta\, s_{t+1})",
    "adam": (r"m_{t+1} = \beta_1 m_t + (1-\beta_1) g_t,\quad v_{t+1} = \beta_2 v_t + (1-\beta_2) g_t^2,\quad "
             r"w_{t+1} = w_t - \varepsilon\, \frac{\hat m_{t+1}}{\sqrt{\hat v_{t+1}} + e},\ "
             r"\hat m = \frac{m}{1-\beta_1^{t+1}},\ \hat v = \frac{v}{1-\beta_2^{t+1}}"),
    "lion": (r"c_t = \beta_1 m_t + (1-\beta_1) g_t,\quad w_{t+1} = w_t - \varepsilon\,\operatorname{sign}(c_t),"
             r"\quad m_{t+1} = \beta_2 m_t + (1-\beta_2) g_t"),
    "signum": r"m_{t+1} = \beta\, m_t + (1-\beta)\, g_t, \qquad w_{t+1} = w_t - \varepsilon\,\operatorname{sign}(m_{t+1})",
    "rmsprop": (r"v_{t+1} = \beta_2 v_t + (1-\beta_2)\, g_t^2,\quad w_{t+1} = w_t - \varepsilon\, "
                r"\frac{g_t}{\sqrt{v_{t+1} + e}},\quad v_0 = 0"),
    "adagrad": (r"v_{t+1} = v_t + g_t^2,\quad w_{t+1} = w_t - \varepsilon\, \frac{g_t}{\sqrt{v_{t+1} + e}},"
                r"\quad v_0 = 0"),
    "nadam": (r"m, v \text{ as Adam},\quad w_{t+1} = w_t - \varepsilon\, \frac{\beta_1 \frac{m_{t+1}}"
              r"{1-\beta_1^{t+2}} + (1-\beta_1) \frac{g_t}{1-\beta_1^{t+1}}}{\sqrt{\hat v_{t+1}} + e}"),
    "amsgrad": (r"m, v, \hat m, \hat v \text{ as Adam},\quad \hat v^{\max}_{t+1} = \max(\hat v^{\max}_t,\, "
                r"\hat v_{t+1}),\quad w_{t+1} = w_t - \varepsilon\, \frac{\hat m_{t+1}}{\sqrt{\hat v^{\max}_{t+1}} + e}"),
    "laprop": (r"v_{t+1} = \beta_2 v_t + (1-\beta_2) g_t^2,\quad m_{t+1} = \beta_1 m_t + (1-\beta_1)\, "
               r"\frac{g_t}{\sqrt{v_{t+1}/(1-\beta_2^{t+1})} + e},\quad w_{t+1} = w_t - \varepsilon\, "
               r"\frac{m_{t+1}}{1-\beta_1^{t+1}}"),
    "adamw": (r"m, v, \hat m, \hat v \text{ as Adam},\quad w_{t+1} = w_t - \varepsilon \left(\frac{\hat m_{t+1}}"
              r"{\sqrt{\hat v_{t+1}} + e} + \lambda\, w_t\right)\ \ (\text{cautious decay: } \lambda\, "
              r"\mathbb 1[u \odot w \ge 0] \odot w)"),
}
# Where each update rule comes from (shown under it).
SOURCE = {
    "signum": "Bernstein et al. 2018 (arXiv 1802.04434); optax.signum: Lion with β₁ = β₂ = β",
    "rmsprop": "optax.rmsprop defaults: decay β₂, e inside the root, no momentum",
    "adagrad": "optax.adagrad, started from v₀ = 0 (optax's default initial accumulator is 0.1)",
    "nadam": "Dozat 2016; optax.scale_by_adam(nesterov=True)",
    "amsgrad": "Reddi et al. 2018; optax.scale_by_amsgrad",
    "laprop": "Ziyin, Wang, Ueda 2020 (arXiv 2002.04839), Algorithm 1: normalise, then average",
    "adamw": "Loshchilov & Hutter 2019; optax.adamw: Adam with decoupled weight decay λ",
}
FLOW = {
    "gd": r"\dot w = -\varepsilon\, \nabla L(w)",
    "gdm": r"\dot w = -\varepsilon\, s, \qquad \dot s = \nabla L(w) - (1-\beta)\, s",
    "gdm-damp": r"\dot w = -\varepsilon\, m, \qquad \dot m = (1-\beta)\,(\nabla L(w) - m)",
    "nesterov": r"\dot w = -\varepsilon\,(\nabla L(w) + \beta s), \qquad \dot s = \nabla L(w) - (1-\beta)\, s",
    "adam": (r"\dot w = -\varepsilon\, \frac{m}{\sqrt v + e},\quad \dot m = a\,(g - m),\quad \dot v = b\,(g^2 - v),"
             r"\quad a = 1-\beta_1,\ b = 1-\beta_2"),
    "lion": (r"\dot w = -\varepsilon\, \operatorname{sign}(c),\quad c = m + (1-\beta_1)(g - m),\quad "
             r"\dot m = (1-\beta_2)(g - m)"),
}
HAMILTONIAN = {
    "gd": (r"H = L(w), \qquad \dot H = -\varepsilon\, \|g\|^2", ""),
    "gdm": (r"H = L(w) + \tfrac{\varepsilon}{2} \|s\|^2, \qquad \dot H = -\varepsilon (1-\beta) \|s\|^2", ""),
    "gdm-damp": (r"H = L(w) + \tfrac{\varepsilon}{2(1-\beta)} \|m\|^2, \qquad \dot H = -\varepsilon \|m\|^2", ""),
    "nesterov": (r"H = L(w) + \tfrac{\varepsilon\beta}{2} \|s\|^2, \qquad "
                 r"\dot H = -\varepsilon \|g\|^2 - \varepsilon\beta(1-\beta)\|s\|^2", ""),
    "adam": (r"H = L(w) + \tfrac{\varepsilon}{2a} \sum_i \frac{m_i^2}{\sqrt{v_i} + e}, \qquad \dot H \le "
             r"-\varepsilon\left(1 - \tfrac{b}{4a}\right) \sum_i \frac{m_i^2}{\sqrt{v_i}+e} \le 0 \ "
             r"\text{when } a \ge b/4",
             "arXiv 2411.16085, Example 2.1. The flow starts from m₀ = g(w₀), v₀ = g(w₀)² (the moments "
             "bias-corrected Adam steps with); the discrete H uses the bias-corrected moments."),
    "lion": (r"H = L(w) + \tfrac{\varepsilon \beta_1}{1-\beta_2} \|m\|_1, \qquad \dot H \le -\varepsilon \|c\|_1",
             "Derived in dynamics.flows from m·sign(c) ≤ |m|₁ and c·sign(m) ≤ |c|₁."),
    "signum": (r"H = L(w) + \tfrac{\varepsilon \beta}{1-\beta} \|m\|_1",
               "Lion's H with β₁ = β₂ = β (dynamics.optimizers)."),
    "rmsprop": (r"H = L(w), \qquad \dot H = -\varepsilon \sum_i \frac{g_i^2}{\sqrt{v_i + e}} \le 0",
                "No momentum: K = 0 along the flow ẇ = −ε g/√(v + e) (dynamics.optimizers)."),
    "adagrad": (r"H = L(w), \qquad \dot H = -\varepsilon \sum_i \frac{g_i^2}{\sqrt{v_i + e}} \le 0",
                "No momentum: K = 0 along the flow ẇ = −ε g/√(v + e) (dynamics.optimizers)."),
    "nadam": (r"H = L(w) + \tfrac{\varepsilon}{2a} \sum_i \frac{m_i^2}{\sqrt{v_i} + e}",
              "Adam's H; the m terms of dH/dt form a positive definite quadratic since (1−β₁)² < 4(1−β₁) "
              "(dynamics.optimizers)."),
    "amsgrad": (r"H = L(w) + \tfrac{\varepsilon}{2a} \sum_i \frac{m_i^2}{\sqrt{v^{\max}_i} + e}",
                "Adam's H with v_max for v; v_max never decreases (dynamics.optimizers)."),
    "laprop": (r"H = L(w) + \tfrac{\varepsilon}{2a} \sum_i (\sqrt{v_i} + e)\, m_i^2",
               "dH/dt ≤ 0 only where g² − v ≤ (4a/b)√v (√v + e): LaProp's H can rise when g² jumps above v "
               "(dynamics.optimizers)."),
    "adamw": (r"H = L(w) + \tfrac{\varepsilon}{2a} \sum_i \frac{m_i^2}{\sqrt{v_i} + e}",
              "Adam's H, for λ = 0; with decay the run heads for a stationary point of a regularised proxy, and H "
              "(built from L alone) need not decrease."),
}
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


def key_of(optimizer: str, dampening: bool) -> str:
    return "gdm-damp" if optimizer == "gdm" and dampening else optimizer


def cautious_update() -> str:
    return (r"w_{t+1} = w_t - \varepsilon\, \alpha\, \phi(u_t \odot g_t) \odot u_t, \qquad "
            r"\dot w = -\varepsilon\, \alpha\, \phi(u \odot g) \odot u")
