"""The feed-forward codec's trained weights: a versioned file checked against its manifest.

``resources/codecs/feedforward_v1.pt`` holds {"arch": Arch as a dict, "state_dict": ...} (torch.save);
``resources/codecs/feedforward_v1.json`` is its manifest::

    {"version": 1, "file": "feedforward_v1.pt", "sha256": <of the .pt file's bytes>,
     "fingerprint": <sha256 of the parameters on their coding grid, see fingerprint()>,
     "architecture": {...}, "levels": 8, "lambdas": {...}, "training": {...}}

:func:`load` checks the file's sha256 against the manifest and raises InputError with a clear
message when either is missing or they disagree. A .smol file records the weights' ``version``
and ``fingerprint``; decoding with other weights is refused (engine.codec.feedforward.codec).
The fingerprint hashes the parameters themselves (after exact.round_to_grid, as float64 bytes in
state_dict order), so the same network has the same fingerprint whether it came from a file or
was passed in as a model object.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import torch

from engine.codec.feedforward import exact as E
from engine.codec.feedforward.models import LAMBDAS, LEVELS, Arch, FeedForwardModel
from engine.errors import InputError
from engine.io.atomic import atomic_write_bytes, atomic_write_text, read_bytes
from engine.resources import resources_dir

VERSION = 1
FILE = f"feedforward_v{VERSION}.pt"
MANIFEST = f"feedforward_v{VERSION}.json"
_HINT = "reinstall SplatLab or run `splatlab codec-train` to make them"
_cache: dict[tuple[str, str], FeedForwardModel] = {}


def default_path() -> Path:
    return resources_dir() / "codecs" / FILE


def manifest_path(weights: str | os.PathLike) -> Path:
    return Path(weights).with_suffix(".json")


def fingerprint(model: FeedForwardModel) -> str:
    """sha256 of the parameters on their coding grid (float64, state_dict order, names included)."""
    m = model if getattr(model, "is_coding_copy", False) else model.coding_copy()
    h = hashlib.sha256(json.dumps(m.arch.to_dict(), sort_keys=True).encode())
    for name, t in m.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().double().contiguous().numpy().tobytes())
    return h.hexdigest()


def save(model: FeedForwardModel, path: str | os.PathLike, training: dict | None = None) -> dict:
    """Write the weights (on their grid) and their manifest, each atomically; returns the manifest."""
    m = FeedForwardModel(model.arch)
    m.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    E.round_to_grid(m)
    buf = io.BytesIO()
    torch.save({"arch": m.arch.to_dict(), "state_dict": m.state_dict()}, buf)
    data = buf.getvalue()
    manifest = {
        "version": VERSION,
        "file": Path(path).name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "fingerprint": fingerprint(m),
        "architecture": m.arch.to_dict(),
        "parameters": int(sum(p.numel() for p in m.parameters())),
        "levels": LEVELS,
        "lambdas": {str(k): v for k, v in LAMBDAS.items()},
        "training": training or {},
    }
    atomic_write_bytes(path, data)
    atomic_write_text(manifest_path(path), json.dumps(manifest, indent=2) + "\n")
    return manifest


def load(path: str | os.PathLike | None = None) -> FeedForwardModel:
    """The model of a weights file (default: the shipped one), checked against its manifest.

    Raises InputError naming the file when it or its manifest is missing, or when the file's
    sha256 differs from the manifest's, or it does not hold this version's networks."""
    path = Path(path) if path is not None else default_path()
    mpath = manifest_path(path)
    if not path.exists():
        raise InputError(str(path), f"feedforward codec weights v{VERSION} are missing: {_HINT}")
    if not mpath.exists():
        raise InputError(str(mpath), f"the manifest of the feedforward codec weights is missing: {_HINT}")
    try:
        manifest = json.loads(read_bytes(mpath).decode("utf-8"))
        expected = str(manifest["sha256"])
        version = int(manifest["version"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise InputError(str(mpath), f"the feedforward codec weights' manifest is corrupt ({e}): {_HINT}") from None
    if version != VERSION:
        raise InputError(str(mpath), f"feedforward codec weights version {version}; this SplatLab needs version {VERSION}: {_HINT}")
    data = read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise InputError(str(path), f"feedforward codec weights are corrupt: sha256 {digest[:12]}... differs from the "
                                    f"manifest's {expected[:12]}...: {_HINT}")  # fmt: skip
    key = (str(path.resolve()), digest)
    if key not in _cache:
        try:
            blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            model = FeedForwardModel(Arch.from_dict(blob["arch"]))
            model.load_state_dict(blob["state_dict"])
        except Exception as e:  # any unreadable content is a corrupt file
            raise InputError(str(path), f"feedforward codec weights are corrupt ({e}): {_HINT}") from None
        _cache[key] = model.eval()
    return _cache[key]
