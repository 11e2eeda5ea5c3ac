"""Facts about a loaded scene file, for ``splatlab info`` and the GUI's scene panel."""

from __future__ import annotations

import os

from engine.scene import GaussianScene


def describe_format(meta: dict) -> str:
    """What a scene is, in words, from its ``meta``: "SplatLab ladder, level 7 (.smol)" and
    "Smol-GS (.smol)" for a .smol file or a level decoded in memory, "spz v4", "ply", ...; a scene
    made in memory (a training preview, say) is "in memory (not from a file)"."""
    from engine.codec import describe

    fmt, codec = meta.get("format"), meta.get("codec")
    if codec is not None and fmt in (None, "smol"):  # decode_bytes records the container's codec and level
        return describe(codec, meta.get("level")) + " (.smol)"
    if fmt is None:
        return "in memory (not from a file)"
    version = meta.get("spz_version", meta.get("version"))
    return fmt + (f" v{version}" if version else "")


def scene_info(scene: GaussianScene, path: str | None = None) -> dict:
    path = path or scene.meta.get("path")
    size = os.path.getsize(path) if path and os.path.exists(path) else None
    lo, hi = scene.bounds()
    rlo, rhi = scene.robust_bounds()
    info = {
        "path": path,
        "format": scene.meta.get("format", "unknown"),
        "description": describe_format(scene.meta),
        "count": scene.count,
        "sh_degree": scene.sh_degree,
        "bytes": size,
        "bytes_per_splat": (size / scene.count) if size and scene.count else None,
        "bounds": {"min": lo.tolist(), "max": hi.tolist()},
        "robust_bounds": {"min": rlo.tolist(), "max": rhi.tolist()},
        "extras": list(scene.extras),
        "antialiased": bool(scene.meta.get("antialiased", False)),
    }
    for key in ("spz_version", "codec", "level", "version"):
        if key in scene.meta:
            info["version" if key == "spz_version" else key] = scene.meta[key]
    if scene.meta.get("dropped_invalid"):
        info["dropped_invalid"] = scene.meta["dropped_invalid"]
    return info
