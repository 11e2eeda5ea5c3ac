"""Locate the project's resources/ folder (shaders, icons, the bundled sample scene, weights).

It sits beside the ``engine`` package in a checkout (the README installs in editable mode);
``SPLATLAB_RESOURCES`` overrides it (e.g. in a PyInstaller bundle).
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import InputError


def resources_dir() -> Path:
    env = os.environ.get("SPLATLAB_RESOURCES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "resources"


def resource_path(*parts: str) -> Path:
    p = resources_dir().joinpath(*parts)
    if not p.exists():
        raise InputError(str(p), "resource is missing (is the resources/ folder beside the engine package?)")
    return p


def sample_scene_path() -> Path:
    """The bundled sample: the MIT-licensed donut from city-super/V3DG (resources/scenes/donut)."""
    return resource_path("scenes", "donut", "fused.ply")
