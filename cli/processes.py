"""The options that run a sweep on several processes or machines (``--coordinator
HOST:PORT --num-processes N --process-id K``, all three or none): each process joins
the ``jax.distributed`` job, runs its share of the cells and receives the whole map
(dynamics.processes); only process 0 prints and writes ``--out``.

Joining waits at most ``--connect-timeout`` seconds for the coordinator (process 0,
which serves at HOST:PORT) and every other process; a process still waiting then exits
with one line on stderr and status 1, rather than hanging or ending in the runtime's
own abort; so does process 0 when the port is taken (the runtime would crash), and
every process when one was given another sweep than process 0 (``check_same_sweep``).  While the cells run, what is written to the standard output (the collectives
library's connection messages) is discarded, so that process 0's ``--json`` stays one
JSON object and a failure stays one line on stderr.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import socket
import sys
import threading

import jax
import numpy as np
from jax.experimental import multihost_utils

from cli.options import PROG, check

DEFAULT_CONNECT_TIMEOUT = 120.0


def add_process_options(p: argparse.ArgumentParser) -> None:
    """The --coordinator, --num-processes, --process-id and --connect-timeout options."""
    g = p.add_argument_group("several processes (jax.distributed)")
    g.add_argument("--coordinator", metavar="HOST:PORT",
                   help="address of process 0, which serves the job there; with --num-processes and --process-id, "
                        "each process runs one share of the cells and process 0 prints and writes the whole map")
    g.add_argument("--num-processes", type=int, metavar="N", help="processes in the job (N >= 1)")
    g.add_argument("--process-id", type=int, metavar="K", help="this process's index, 0 <= K < N")
    g.add_argument("--connect-timeout", type=float, default=DEFAULT_CONNECT_TIMEOUT, metavar="SECONDS",
                   help=f"give up (one line, exit status 1) when the job has not assembled within this time "
                        f"(default {DEFAULT_CONNECT_TIMEOUT:g})")


def check_process_options(args: argparse.Namespace) -> bool:
    """Whether the options ask for several processes (all three given); UsageError when
    only some are, or a value is out of range."""
    given = [args.coordinator is not None, args.num_processes is not None, args.process_id is not None]
    check(all(given) or not any(given), "--coordinator",
          "--coordinator, --num-processes and --process-id go together: give all three or none")
    check(args.connect_timeout > 0, "--connect-timeout", f"must be > 0 seconds; got {args.connect_timeout:g}")
    if not any(given):
        return False
    host, _, port = args.coordinator.rpartition(":")
    check(bool(host) and port.isdigit() and 0 < int(port) < 65536, "--coordinator",
          f"expected HOST:PORT with a port from 1 to 65535, such as 127.0.0.1:12345; got {args.coordinator!r}")
    check(args.num_processes >= 1, "--num-processes", f"must be >= 1; got {args.num_processes}")
    check(0 <= args.process_id < args.num_processes, "--process-id",
          f"must be from 0 to N - 1 = {args.num_processes - 1}; got {args.process_id}")
    return True


def join(args: argparse.Namespace) -> None:
    """Join the jax.distributed job of the options (before any JAX computation); exit
    with one line and status 1 when process 0 cannot serve at the port, or the job has
    not assembled within --connect-timeout."""
    if args.process_id == 0:
        _check_port_free(args)

    def give_up() -> None:
        _fail(args, f"the job did not assemble at {args.coordinator} within {args.connect_timeout:g} s (is process 0 "
                    f"running there, and every other process?)")
        os._exit(1)          # the runtime is blocked in native code: nothing else would end it

    watchdog = threading.Timer(args.connect_timeout, give_up)
    watchdog.daemon = True
    watchdog.start()
    jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id,
                               initialization_timeout=int(args.connect_timeout) + 60)
    watchdog.cancel()


def check_same_sweep(args: argparse.Namespace, config: dict) -> None:
    """Exit with one line and status 1, in every process, when some process was given
    another sweep (its resolved config) than process 0."""
    text = json.dumps(config, sort_keys=True, default=str).encode()
    digest = np.frombuffer(hashlib.sha256(text).digest()[:8], np.int64)
    every = np.asarray(multihost_utils.process_allgather(digest)).reshape(-1)
    others = [k for k in range(every.size) if every[k] != every[0]]
    if others:
        _fail(args, f"process(es) {', '.join(map(str, others))} were given another sweep than process 0: give every "
                    f"process the same options")
        raise SystemExit(1)


def _check_port_free(args: argparse.Namespace) -> None:
    """Exit with one line when process 0 cannot listen on the coordinator's port on every
    address, as the job's service will (the runtime would crash instead)."""
    port = int(args.coordinator.rpartition(":")[2])
    dual = socket.has_dualstack_ipv6()
    try:
        socket.create_server(("::" if dual else "", port), family=socket.AF_INET6 if dual else socket.AF_INET,
                             dualstack_ipv6=dual).close()
    except OSError as err:
        _fail(args, f"cannot serve the job on port {port}: {err.strerror or err}")
        raise SystemExit(1) from None


def _fail(args: argparse.Namespace, why: str) -> None:
    """One line on stderr naming this process."""
    sys.stderr.write(f"{PROG} sweep: error: process {args.process_id} of {args.num_processes}: {why}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def quiet_stdout():
    """Discard what is written to file descriptor 1 meanwhile (native libraries' chatter;
    the sweep itself writes only progress, to stderr)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
