"""Cells across several processes (``jax.distributed``): each process runs one share of
a grid's chunks on its own devices, and the shares are gathered, in order, into every
process's result (dynamics.batch.run_cells).

Once ``jax.distributed.initialize`` has run in N processes, every process calls the
same sweep with the same arguments.  The grid is cut into chunks exactly as on one
process, with process 0's chunk size (``agreed_chunk``: every process uses it, so the
cut does not depend on each machine's core count); of the n chunks, process K runs the
contiguous run ``share(n)`` = [floor(K n / N), floor((K + 1) n / N)), so the shares
differ by at most one chunk and a process may have none (n < N).  Each chunk runs the
one-process program on the same cells, so every output is bit-identical to the
one-process run on process 0's machine (another core count there would cut other
chunks, whose fitted rates can differ in the last bit: dynamics.sweep).  ``gather`` pads the shares to one length, all-gathers them
(``multihost_utils.process_allgather``: Gloo collectives on CPUs, the accelerator's own
on GPUs) and concatenates them in process order, which is chunk order.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.experimental import multihost_utils


def share(n_chunks: int, process: int | None = None, processes: int | None = None) -> range:
    """The chunks that ``process`` of ``processes`` runs (default: this process of the
    jax.distributed job; on one process, every chunk)."""
    k = jax.process_index() if process is None else process
    n = jax.process_count() if processes is None else processes
    return range(k * n_chunks // n, (k + 1) * n_chunks // n)


def agreed_chunk(chunk: int, n_cells: int) -> int:
    """Process 0's chunk size, used by every process (``chunk`` itself on one process);
    ValueError when this process's grid has another number of cells than process 0's."""
    if jax.process_count() == 1:
        return chunk
    first = multihost_utils.broadcast_one_to_all(np.array([chunk, n_cells], np.int64))
    if int(first[1]) != n_cells:
        raise ValueError(f"process {jax.process_index()} has {n_cells} cells, process 0 has {int(first[1])}: "
                         f"every process must run the same sweep")
    return int(first[0])


def gather(local: dict[str, np.ndarray], rows: list[int]) -> dict[str, np.ndarray]:
    """Every process's ``local`` outputs (leading axis: its cells; process K has
    rows[K] of them) concatenated in process order, on every process."""
    if len(rows) == 1:
        return local
    width = max(rows)
    padded = {name: np.concatenate([v, np.zeros((width - len(v),) + v.shape[1:], v.dtype)])
              for name, v in local.items()}
    every = multihost_utils.process_allgather(padded, tiled=False)
    return {name: np.concatenate([np.asarray(v)[k, :rows[k]] for k in range(len(rows))])
            for name, v in every.items()}
