"""Running a compiled per-cell program over many independent cells (the cells of a
sweep's (lr, beta) grid, the starts of a basin map): chunks, devices, host threads.

A grid is cut into chunks of ``chunk`` cells, the last one padded by repeating its
last cell, so that one compiled program serves every chunk and memory stays bounded;
a grid smaller than the chunk size shared among the workers gets chunks of a bucketed
size (cells_bucket: four sizes per octave, under 25% padding), so that nearby grid sizes
share the compiled program;
``progress(done, total)`` is called before the first chunk and after each one.  On a
CPU the chunks are small (CHUNK_CELLS: the per-step state stays in the core's cache)
and run concurrently, one host thread per core, each chunk single-threaded.  With
several devices each chunk's cells are sharded over all of them (a one-axis ``Mesh``
named CELL_AXIS and ``NamedSharding(mesh, P(CELL_AXIS))``); cells are independent, so
the program needs no communication and gives the same numbers on any device count.
Under jax.distributed (several processes, hosts) each process runs its share of the
chunks on its own devices and the shares are gathered (dynamics.processes).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dynamics.processes import agreed_chunk, gather, share
from dynamics.rates import block_starts

CHUNK_CELLS = {"cpu": 4096}      # cells per device in one chunk (other platforms: 262144)
CHUNK_BYTES = 256 * 2**20        # cap on a chunk's block-sum arrays
CELL_AXIS = "cells"              # the mesh axis the cells are sharded over
# XLA:CPU options, measured on the 256 x 256 x 1000 cautious-gdm benchmark (BENCHMARKS.md):
# YNNPACK's fusion of the reductions over the length-2 parameter axis (mask means,
# distances) is ~5x slower than XLA's own loops; 512-bit vectors (where the CPU has
# them, a preference elsewhere) take another ~30% off.  Neither changes a result.
CPU_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "", "xla_cpu_prefer_vector_width": 512}

ProgressFn = Callable[[int, int], None]


def compile_cells(fn, devices: tuple = (), n_cell_args: int = 0, n_consts: int = 0):
    """jax.jit of a per-cell program ``fn(*cell_args, *consts)`` with the CPU options
    above on a CPU backend; with two or more ``devices`` the ``n_cell_args`` cell arrays
    and the outputs are sharded over them and the ``n_consts`` constants replicated."""
    options = CPU_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None
    if len(devices) <= 1:
        return jax.jit(fn, compiler_options=options)
    mesh = cell_mesh(devices)
    cells, repl = cell_sharding(mesh), NamedSharding(mesh, PartitionSpec())
    return jax.jit(fn, compiler_options=options, in_shardings=(cells,) * n_cell_args + (repl,) * n_consts,
                   out_shardings=cells)


def cell_mesh(devices: Sequence) -> Mesh:
    """The one-axis mesh (CELL_AXIS) over ``devices``."""
    return Mesh(np.asarray(devices), (CELL_AXIS,))


def cell_sharding(mesh: Mesh, leading_axes: int = 0) -> NamedSharding:
    """Arrays whose axis ``leading_axes`` runs over the cells, sharded along it."""
    return NamedSharding(mesh, PartitionSpec(*(None,) * leading_axes, CELL_AXIS))


def host_workers(devices: tuple) -> int:
    """Host threads that run chunks at once: one per CPU core when the cells run on one
    CPU device (each chunk then runs single-threaded, in cache); otherwise one."""
    if len(devices) == 1 and devices[0].platform == "cpu":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 1


def chunk_size(cells: int, steps: int, n_devices: int = 1, workers: int = 1, chunk_cells: int | None = None) -> int:
    """Cells per chunk: ``chunk_cells``, or CHUNK_CELLS per device capped so that a
    sweep's block-sum arrays (dynamics.rates.block_starts) stay under CHUNK_BYTES with
    ``steps`` the step count the program is built for (its bucket, dynamics.horizon);
    at most the grid shared among the workers rounded up to its bucket (cells_bucket),
    and a multiple of the device count."""
    if chunk_cells is None:
        per_device = CHUNK_CELLS.get(jax.default_backend(), 262144)
        cap = CHUNK_BYTES // (8 * (2 * len(block_starts(steps)) + 16))
        chunk_cells = max(256, min(per_device * n_devices, cap))
    chunk = min(int(chunk_cells), cells_bucket(-(-cells // workers)))
    return max(n_devices, -(-chunk // n_devices) * n_devices)


def cells_bucket(n: int) -> int:
    """n rounded up to the next number with at most three significant binary digits
    (1..8, 10, 12, 14, 16, 20, 24, 28, 32, 40, ...: four per octave), so that grids of
    nearby sizes share a chunk shape, hence a compiled program, and the padding adds
    less than a quarter of n."""
    shift = max(0, int(n).bit_length() - 3)
    return -(-int(n) >> shift) << shift


_WARM: set = set()              # (program, chunk shape) pairs that have run once
_WARM_LOCK = threading.Lock()


def run_cells(fn, cells: Sequence[np.ndarray], consts: tuple, chunk: int, devices: tuple, workers: int,
              dtype: str, progress: ProgressFn | None = None) -> dict[str, np.ndarray]:
    """Run the compiled per-cell program ``fn(*cell_chunk, *consts)`` over chunks of
    ``chunk`` cells of the flat per-cell arrays ``cells`` (the last chunk padded by
    repeating its last cell), on ``workers`` host threads once the program has been
    compiled, and return its outputs as flat NumPy arrays, one entry per cell.  Under
    jax.distributed this process runs its share of the chunks on its own ``devices`` and
    the shares are gathered (dynamics.processes); ``progress`` counts the share's cells."""
    if any(d.process_index != jax.process_index() for d in devices):
        raise ValueError("the cells run on this process's own devices (jax.local_devices()), one share per process")
    n_cells = cells[0].size
    chunk = agreed_chunk(chunk, n_cells)
    n_chunks = -(-n_cells // chunk)
    padded = [np.pad(c, (0, n_chunks * chunk - n_cells), mode="edge") for c in cells]
    mine = share(n_chunks)
    put = placer(devices)

    def run_chunk(k: int) -> dict[str, np.ndarray]:
        part = slice(k * chunk, (k + 1) * chunk)
        out = jax.block_until_ready(fn(*(put(c[part]) for c in padded), *consts))
        return {name: np.asarray(v) for name, v in out.items()}

    parts: dict = {}
    total = min(mine.stop * chunk, n_cells) - min(mine.start * chunk, n_cells)

    def finish(k: int, part: dict) -> None:
        parts[k] = part
        if progress is not None:
            progress(min(len(parts) * chunk, total), total)

    if progress is not None:
        progress(0, total)
    key = (fn, chunk, dtype)
    with _WARM_LOCK:
        cold = key not in _WARM
    if mine and (cold or workers == 1 or len(mine) == 1):   # compile once, before any thread races to
        finish(mine[0], run_chunk(mine[0]))
        with _WARM_LOCK:
            _WARM.add(key)
    pending = [k for k in mine if k not in parts]
    if workers == 1:
        for k in pending:
            finish(k, run_chunk(k))
    elif pending:
        with ThreadPoolExecutor(min(workers, len(pending))) as pool:
            futures = {pool.submit(run_chunk, k): k for k in pending}
            for future in as_completed(futures):
                finish(futures[future], future.result())
    local = _concatenated([parts[k] for k in mine], fn, chunk, padded, consts)
    rows = [len(share(n_chunks, k)) * chunk for k in range(jax.process_count())]
    return {name: v[:n_cells] for name, v in gather(local, rows).items()}


def _concatenated(parts: list[dict], fn, chunk: int, cells: list, consts: tuple) -> dict[str, np.ndarray]:
    """The chunks' outputs joined along the cells; for a process with no chunks, empty
    arrays of the program's output types (jax.eval_shape, nothing runs)."""
    if parts:
        return {name: np.concatenate([q[name] for q in parts]) for name in parts[0]}
    shapes = jax.eval_shape(fn, *(jax.ShapeDtypeStruct((chunk,), c.dtype) for c in cells), *consts)
    return {name: np.zeros((0,) + s.shape[1:], s.dtype) for name, s in shapes.items()}


def placer(devices: tuple):
    """Host array -> device array, sharded over the cells when there are several devices."""
    if len(devices) == 1:
        return lambda x: jax.device_put(x, devices[0])
    sharding = cell_sharding(cell_mesh(devices))
    return lambda x: jax.device_put(x, sharding)
