"""``python -m dynamics run``: one trajectory, as a summary or as JSON."""
from __future__ import annotations

import numpy as np

from dynamics.cli import add_run_options, hyper_of, json_list, print_json, resolve_run, setup_of
from dynamics.rollout import loss_rises, rollout
from toys import get_toy


def register(sub) -> None:
    p = sub.add_parser("run", help="run one optimizer on one toy",
                       description="Run one optimizer on one toy. With --json, print one object with keys "
                                   "iterates, loss, hamiltonian, masked_fraction (step 0 first, steps+1 entries), "
                                   "loss_rises (steps where L rose, and by how much), diverged, config.")
    add_run_options(p)
    p.set_defaults(handler=handle)


def handle(args) -> int:
    config = resolve_run(args)
    config["mode"] = "discrete"
    traj = rollout(setup_of(config), get_toy(config["toy"]), hyper_of(config), config["steps"],
                   start=config["start"], toy_params=config["toy_params"])
    rise_steps, rise_sizes = loss_rises(traj.loss)
    diverged = bool(not np.all(np.isfinite(traj.w)))
    if args.json:
        print_json(dict(iterates=json_list(traj.w), loss=json_list(traj.loss),
                        hamiltonian=json_list(traj.hamiltonian), masked_fraction=json_list(traj.masked_fraction),
                        loss_rises=dict(steps=rise_steps.tolist(), sizes=json_list(rise_sizes)),
                        diverged=diverged, config=config))
        return 0
    name = ("C-" if config["cautious"] else "") + config["optimizer"].upper()
    print(f"{name} on {config['toy']} for {config['steps']} steps (lr={config['lr']:g}, beta={config['beta']:g})")
    print(f"  start {traj.w[0].tolist()}  ->  end {traj.w[-1].tolist()}")
    print(f"  loss {traj.loss[0]:.6g} -> {traj.loss[-1]:.6g};  H {traj.hamiltonian[0]:.6g} -> {traj.hamiltonian[-1]:.6g}")
    print(f"  loss rose at {len(rise_steps)} steps (largest rise {rise_sizes.max() if len(rise_sizes) else 0:.3g}); "
          f"mean fraction masked {traj.masked_fraction[1:].mean():.3f}")
    if diverged:
        print("  DIVERGED: the iterates left the floating-point range")
    return 0
