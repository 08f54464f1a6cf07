"""Step-count buckets: the compiled programs whose loop runs over the optimizer steps
(dynamics.rollout's roll-out, dynamics.sweep_program's sweep chunk, dynamics.basins'
basin chunk, dynamics.ode's integrator over T units of time, dynamics.anatomy's replay
of a roll-out) are built once per *bucket* of the step count T and take T itself as a
traced argument, so a new T within its bucket costs no more than a new lr: no compile.

The bucket of T is the smallest power of two >= max(T, MIN_BUCKET).  The loop runs
exactly T steps (``lax.fori_loop`` with a traced trip count; the adaptive ODE solver
integrates to a traced end time t1 = T): no step is computed and masked away, so every
number is the one a program built for T alone computes (only the ODE's read-outs L, H,
dH/dt are evaluated on every row of the bucket, one gradient per row).  The
bucket sizes only buffers: a roll-out's records have bucket + 1 rows, of which the host
keeps the first T + 1; a sweep's block sums have one row per block start up to the
bucket (dynamics.rates.block_starts; O(log T) rows, those past T never read).  A noisy
roll-out draws z_t for every t of the bucket before its loop (z_t depends on the seed
and t only), a few normal draws per step, small beside the step itself.  Powers
of two keep the programs few (seven buckets cover T = 1..5000) while a buffer is at
most twice the length it needs; a finer rule would add programs to save memory that
is small beside the program's own.
"""
from __future__ import annotations

MIN_BUCKET = 64      # every T <= 64 shares one program


def step_bucket(steps: int) -> int:
    """The bucket of a step count T >= 1 (module docstring): the smallest power of two
    that is >= max(T, MIN_BUCKET)."""
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps}")
    return max(MIN_BUCKET, 1 << (steps - 1).bit_length())
