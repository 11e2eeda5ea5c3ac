"""``.smol``: SplatLab's compressed container (engine.codec). Reading decodes with the codec
named in the file; writing encodes with ``codec`` (default the ladder) at ``level``."""

from __future__ import annotations

import os

from engine.codec import DEFAULT_CODEC, DEFAULT_LEVEL, decode_bytes, encode
from engine.errors import InputError
from engine.io.atomic import atomic_write_bytes, read_bytes
from engine.scene import GaussianScene


def read(path: str) -> GaussianScene:
    data = read_bytes(path)
    scene = decode_bytes(data, path)
    scene.meta["format"] = "smol"
    return scene


def write(scene: GaussianScene, path: str, *, codec: str = DEFAULT_CODEC, level: int = DEFAULT_LEVEL, **options) -> None:
    atomic_write_bytes(os.fspath(path), encode(scene, codec, level, **options))
