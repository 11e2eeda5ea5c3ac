"""Ray for a batch: a local instance started for the run (the default), or an existing cluster.

The local instance has no dashboard, usage stats off, quiet logs, ``num_cpus`` CPUs, a small
object store (items pass paths and small dicts, never scenes) and its session files in a
temporary folder that is removed when the run ends; it listens on 127.0.0.1 only (Ray's own
loopback mode, ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, set before Ray is imported) and requires
a random token that only this process and its Ray processes know (``RAY_AUTH_MODE=token``,
``RAY_AUTH_TOKEN``), so nothing is written to ``~/.ray``. ``address="HOST:PORT"`` joins a cluster
started with ``ray start`` instead (its auth token comes from the environment, as Ray reads it);
leaving disconnects and leaves the cluster running. A Ray connection that this process already
has (a test fixture's, say) is used as it is and left open.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass

from engine.errors import InputError

OBJECT_STORE_MB = 128
# Set (unless the environment says otherwise) before Ray is first imported: Ray reads them then.
# They keep a local instance on 127.0.0.1 with a token that only this process and its Ray
# processes know; a join (address=...) puts the environment's own token back for its time.
_TOKEN = secrets.token_hex(32)
_RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token"}


def import_ray():
    """The ``ray`` module, first imported with the environment above; InputError with the way to
    install it when it is missing."""
    if "ray" not in sys.modules:
        for k, v in _RAY_ENV.items():
            os.environ.setdefault(k, v)
        if not (os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")):
            os.environ["RAY_AUTH_TOKEN"] = _TOKEN
    try:
        import ray
    except ImportError:
        raise InputError(None, "splatlab batch runs on Ray, which is not installed: run packaging/setup.sh "
                         "(or pip install 'splatlab[batch]')") from None  # fmt: skip
    return ray


def _local_mode(ray) -> None:
    """Loopback and this process's token for a local instance, also where Ray was imported before
    :func:`import_ray` set the environment (Ray reads both when imported): the two switches Ray
    itself flips for them (``ray_constants.ENABLE_RAY_CLUSTER``; the auth mode, re-read by
    ``Config.initialize`` as Ray's own token set-up does). A mode the environment sets is kept."""
    from ray._private import ray_constants
    from ray._raylet import Config

    ray_constants.ENABLE_RAY_CLUSTER = False
    if "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = "token"
    if not (os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")):
        _use_token(_TOKEN)
    Config.initialize("")


def _use_token(token: str | None) -> None:
    """Make Ray use ``token`` (None: the one the environment's RAY_AUTH_TOKEN_PATH or ~/.ray holds)."""
    if token is None:
        os.environ.pop("RAY_AUTH_TOKEN", None)
    else:
        os.environ["RAY_AUTH_TOKEN"] = token
    with contextlib.suppress(Exception):  # Ray caches the token it loaded
        from ray._raylet import AuthenticationTokenLoader

        AuthenticationTokenLoader.instance().reset_cache()


@dataclass(frozen=True)
class ClusterSettings:
    address: str | None = None  # HOST:PORT of a running cluster; None: a local instance for the run
    num_cpus: int | None = None  # the local instance's CPUs (default: all of this machine's)
    object_store_mb: int = OBJECT_STORE_MB


class RaySession:
    """``with RaySession(settings) as s:`` Ray is up (or joined) inside; ``s.describe()`` says where."""

    def __init__(self, settings: ClusterSettings = ClusterSettings()):
        self.settings = settings
        self.owned = False  # whether leaving shuts Ray down (a local instance or a join made here)
        self.local = False
        self.temp_dir: str | None = None
        self.start_seconds = 0.0
        self._own_token = False

    def __enter__(self) -> "RaySession":
        ray = import_ray()
        t = time.perf_counter()
        if ray.is_initialized():
            pass
        elif self.settings.address:
            self._join(ray, self.settings.address)
        else:
            self._start_local(ray)
        self.start_seconds = time.perf_counter() - t
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -------------------------------------------------------------------- start, join, stop
    def _start_local(self, ray) -> None:
        n = self.settings.num_cpus or os.cpu_count() or 1
        if n < 1:
            raise InputError(None, f"--num-cpus {n} must be at least 1")
        self.temp_dir = _short_temp_dir()
        self.owned = self.local = True
        try:
            _local_mode(ray)
            ray.init(address="local", num_cpus=n, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR, _temp_dir=self.temp_dir,
                     object_store_memory=max(self.settings.object_store_mb, 80) << 20)  # fmt: skip
        except BaseException:
            self.close()
            raise

    def _join(self, ray, address: str) -> None:
        host, _, port = address.rpartition(":")
        if address != "auto" and (not host or not port.isdigit()):
            raise InputError(None, f"--address {address!r} is not HOST:PORT (the head's `ray start --head --port`)")
        self._own_token = os.environ.get("RAY_AUTH_TOKEN") == _TOKEN
        if self._own_token:
            _use_token(None)  # the cluster's token, from the environment or ~/.ray, not this process's own
        extra = {}
        if host and not _is_loopback(host):
            extra["_node_ip_address"] = _local_ip_towards(host)  # the address the cluster reaches this driver at
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, **extra)
        except (ConnectionError, RuntimeError, ValueError) as e:
            hint = ("; a cluster with token auth needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN_PATH "
                    "or RAY_AUTH_TOKEN)" if "auth" in str(e).lower() or "token" in str(e).lower() else "")  # fmt: skip
            raise InputError(None, f"--address {address}: cannot join the Ray cluster ({_first_line(e)}){hint}") from None
        self.owned = True

    def close(self) -> None:
        """Shut down what this session started (disconnect from a joined cluster); remove the
        local instance's temporary folder; give the process's own token back after a join."""
        if self.owned:
            import ray

            ray.shutdown()
            self.owned = False
        if self.temp_dir is not None:
            for _ in range(20):  # Ray's processes may still be leaving their files
                shutil.rmtree(self.temp_dir, ignore_errors=True)
                if not os.path.exists(self.temp_dir):
                    break
                time.sleep(0.25)
            self.temp_dir = None
        if self._own_token:
            _use_token(_TOKEN)
            self._own_token = False

    # -------------------------------------------------------------------- what there is
    def describe(self) -> dict:
        """Where the batch runs: address, nodes, CPUs, GPUs, and how long Ray took to start or join."""
        import ray

        ctx = ray.get_runtime_context()
        res = ray.cluster_resources()
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return {"mode": "local" if self.local else "cluster", "address": ctx.gcs_address, "nodes": len(nodes),
                "cpus": res.get("CPU", 0.0), "gpus": res.get("GPU", 0.0), "start_seconds": self.start_seconds}  # fmt: skip

    @staticmethod
    def largest_node_memory() -> int:
        """The ``memory`` resource of the largest alive node, in bytes: no task may ask for more."""
        import ray

        return int(max((n["Resources"].get("memory", 0) for n in ray.nodes() if n.get("Alive")), default=0))


def _short_temp_dir() -> str:
    """A new folder under the system temp for Ray's session files; under /tmp when the system's is
    long (Ray's socket paths inside it must stay under the 107 bytes a Unix socket allows)."""
    base = tempfile.gettempdir()
    if len(base) > 40 and os.path.isdir("/tmp"):
        base = "/tmp"
    return tempfile.mkdtemp(prefix="splatlab-ray-", dir=base)


def _is_loopback(host: str) -> bool:
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _local_ip_towards(host: str) -> str:
    """This machine's address on the route to ``host`` (no packet is sent)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as s:
        try:
            s.connect((host, 9))
            return s.getsockname()[0]
        except OSError as e:
            raise InputError(None, f"--address {host}: no route to it ({e.strerror or e})") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
