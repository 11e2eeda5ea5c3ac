"""What one Ray task does for one item: set torch's threads to the task's CPUs, run the job's
function, and return the outcome as a plain dict (bad input and failures included, each with
its one-line error), so the driver never has to unpickle an engine exception."""

from __future__ import annotations

import os
import socket
import time
import traceback
from typing import Callable


def run_item(run: Callable[[str, str, dict], dict], src: str, out: str, params: dict, cpus: int) -> dict:
    """``run(src, out, params)`` with ``cpus`` torch threads; returns {status, figures, error,
    seconds, node (its IP), node_id (Ray's), pid}. ``status``: done, bad_input (engine.errors.InputError) or failed."""
    import torch

    from engine.errors import InputError

    torch.set_num_threads(max(1, int(cpus)))  # Ray sets OMP_NUM_THREADS=1 in its workers
    t = time.perf_counter()
    status, figures, error = "done", {}, None
    try:
        figures = run(src, out, params)
    except InputError as e:
        status, error = "bad_input", one_line(str(e))
    except Exception as e:  # a bug or a resource problem: recorded, and the batch goes on
        status, error = "failed", one_line(f"{type(e).__name__}: {e}")
        traceback.print_exc()  # into the worker's log (Ray's session folder)
    node, node_id = _node()
    return {"status": status, "figures": figures, "error": error, "seconds": time.perf_counter() - t,
            "node": node, "node_id": node_id, "pid": os.getpid()}  # fmt: skip


def one_line(text: str, limit: int = 500) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _node() -> tuple[str, str | None]:
    """(IP address, Ray node id) of the node this runs on (the host name outside Ray)."""
    try:
        import ray

        if ray.is_initialized():
            return ray.util.get_node_ip_address(), ray.get_runtime_context().get_node_id()
    except Exception:
        pass
    return socket.gethostname(), None
