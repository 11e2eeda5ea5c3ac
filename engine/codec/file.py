"""The ``.smol`` file as a scene format (engine.io opens and saves ``.smol`` files through this
module, like every other format through its own): reading decodes with the codec named in the
file; writing encodes with ``codec`` (default the ladder) at ``level``.

It lives with the codecs rather than in engine.io because it needs them, and the codecs need
engine.io (captures to train from, atomic writes): engine.io names this module in its format
table and imports nothing from engine.codec."""

from __future__ import annotations

import os

from engine.codec import DEFAULT_CODEC, DEFAULT_LEVEL, decode_bytes, encode
from engine.io.atomic import atomic_write_bytes, read_bytes
from engine.scene import GaussianScene


def read(path: str) -> GaussianScene:
    data = read_bytes(path)
    scene = decode_bytes(data, path)
    scene.meta["format"] = "smol"
    return scene


def write(scene: GaussianScene, path: str, *, codec: str = DEFAULT_CODEC, level: int = DEFAULT_LEVEL, **options) -> None:
    atomic_write_bytes(os.fspath(path), encode(scene, codec, level, **options))
