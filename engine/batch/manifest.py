"""``batch.json``: what a batch did to each item, kept in its output folder so a rerun can resume.

One record per output (``output`` is its path relative to the folder)::

    {"job": "compress", "input": "/abs/scene.ply", "sha256": "...", "params": {...},
     "status": "done" | "failed" | "bad_input" | "pending", "output": "scene.L3.smol",
     "figures": {"bytes_in": ..., "bytes_out": ..., "ratio": ..., "psnr": ...}, "error": null,
     "seconds": 1.9, "node": "127.0.0.1", "node_id": "7c1d...", "finished": "2026-12-03T19:29:00+00:00"}

A record is *done* for a rerun when its job, input hash and params are the same and its output
is still there; such items are skipped. Records of other outputs (an earlier run's other levels,
say) are kept as they are.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from typing import Iterator

from engine.errors import InputError

SCHEMA = "splatlab.batch/1"
FILE = "batch.json"
LOCK = ".batch.lock"
STATUSES = ("done", "failed", "bad_input", "pending")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def record(job: str, input: str, sha256: str | None, params: dict, output: str, status: str = "pending",
           error: str | None = None) -> dict:  # fmt: skip
    return {"job": job, "input": input, "sha256": sha256, "params": params, "status": status, "output": output,
            "figures": {}, "error": error, "seconds": None, "node": None, "node_id": None, "finished": None}  # fmt: skip


class Manifest:
    """The records of one output folder, by output path; :meth:`save` writes them atomically."""

    def __init__(self, folder: str, records: dict[str, dict] | None = None):
        self.folder = folder
        self.records: dict[str, dict] = records or {}

    @property
    def path(self) -> str:
        return os.path.join(self.folder, FILE)

    @classmethod
    def load(cls, folder: str) -> "Manifest":
        """The folder's manifest, empty when there is none; a damaged one is bad input."""
        path = os.path.join(folder, FILE)
        if not os.path.exists(path):
            return cls(folder)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise InputError(path, f"cannot read the batch manifest ({e}); move it away to start afresh") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("items"), list):
            raise InputError(path, f"not a batch manifest ({SCHEMA}); move it away to start afresh")
        records = {}
        for r in data["items"]:
            if not isinstance(r, dict) or not isinstance(r.get("output"), str) or r.get("status") not in STATUSES:
                raise InputError(path, "a record of the batch manifest is damaged; move it away to start afresh")
            records[r["output"]] = r
        return cls(folder, records)

    def is_done(self, rec: dict) -> bool:
        """Whether ``rec`` (a planned item) was done by an earlier run with the same job, input
        hash and params, and its output is still there."""
        old = self.records.get(rec["output"])
        return (old is not None and old["status"] == "done" and old["job"] == rec["job"] and old["sha256"] == rec["sha256"]
                and rec["sha256"] is not None and old["params"] == rec["params"]
                and os.path.exists(os.path.join(self.folder, rec["output"])))  # fmt: skip

    def save(self) -> None:
        from engine.io.atomic import atomic_write_json

        atomic_write_json(self.path, {"schema": SCHEMA, "updated": now(), "items": list(self.records.values())})


def counts(records: list[dict], skipped: int = 0) -> dict[str, int]:
    """How many records have each status (``done`` includes the ``skipped`` ones)."""
    out = {s: 0 for s in STATUSES}
    for r in records:
        out[r["status"]] += 1
    return out | {"skipped": skipped}


@contextlib.contextmanager
def locked(folder: str) -> Iterator[None]:
    """Hold the output folder's lock: a second batch into the same folder is refused (bad input)."""
    import fcntl

    path = os.path.join(folder, LOCK)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(folder, "another batch is running into this folder") from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
