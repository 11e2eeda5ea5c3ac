"""Codecs of the ``.smol`` container (engine.codec.container).

Each codec module has ``CODEC_ID``, ``encode(scene, level, **options) -> bytes`` (a whole .smol
file) and ``decode(container, path) -> GaussianScene``. ``engine.io`` opens ``.smol`` files
through ``engine.codec.file`` (:func:`decode_bytes`), so a .smol scene opens wherever a scene opens.
"""

from __future__ import annotations

import importlib

from engine.codec import container
from engine.errors import InputError
from engine.scene import GaussianScene

CODECS = {"ladder": "engine.codec.ladder", "smol": "engine.codec.smol.codec", "feedforward": "engine.codec.feedforward.codec"}
DEFAULT_CODEC = "ladder"
DEFAULT_LEVEL = 3
# What each codec's scenes are called ("splatlab info", the GUI's Scenes panel: engine.info).
CODEC_NAMES = {"ladder": "SplatLab ladder", "smol": "Smol-GS", "feedforward": "feed-forward (long context)"}


def describe(codec: str, level: int | None = None) -> str:
    """A codec and level in words: "SplatLab ladder, level 7", "Smol-GS" (a codec without levels
    records level 0)."""
    name = CODEC_NAMES.get(codec, f"codec {codec!r}")
    return f"{name}, level {level}" if level else name


def parse_levels(text: str, option: str = "--levels") -> list[int]:
    """``"3"``, ``"1-8"`` or ``"2,5,8"`` -> levels (each 1 to 8); InputError naming ``option``."""
    try:
        if "-" in text:
            a, b = (int(v) for v in text.split("-"))
            levels = list(range(a, b + 1))
        else:
            levels = [int(v) for v in text.split(",")]
    except ValueError:
        raise InputError(None, f"{option} {text!r} is not like 3, 1-8 or 2,5,8") from None
    if not levels or not all(1 <= v <= 8 for v in levels):
        raise InputError(None, f"{option} {text!r}: levels are 1 to 8")
    return levels


def codec_module(name: str, path: str | None = None):
    if name not in CODECS:
        raise InputError(path, f"unknown codec {name!r} (known: {', '.join(CODECS)})")
    return importlib.import_module(CODECS[name])


def encode(scene: GaussianScene, codec: str = DEFAULT_CODEC, level: int = DEFAULT_LEVEL, **options) -> bytes:
    return codec_module(codec).encode(scene, level, **options)


def decode_bytes(data: bytes, path: str | None = None) -> GaussianScene:
    c = container.unpack(data, path)
    scene = codec_module(c.codec, path).decode(c, path)
    scene.meta.setdefault("codec", c.codec)
    scene.meta.setdefault("level", c.level)
    return scene
