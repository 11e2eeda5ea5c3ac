"""Facts about a loaded scene file, for ``splatlab info`` and the GUI's scene panel."""

from __future__ import annotations

import os

from engine.scene import GaussianScene


def scene_info(scene: GaussianScene, path: str | None = None) -> dict:
    path = path or scene.meta.get("path")
    size = os.path.getsize(path) if path and os.path.exists(path) else None
    lo, hi = scene.bounds()
    rlo, rhi = scene.robust_bounds()
    info = {
        "path": path,
        "format": scene.meta.get("format", "unknown"),
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
