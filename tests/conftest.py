"""Shared test helpers: where the third-party data lives, and small synthetic scenes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from engine.scene import GaussianScene, sh_coeff_count

REPO = Path(__file__).resolve().parents[1]
# ../shared beside the checkout (CI and development); SPLATLAB_SHARED overrides.
SHARED = Path(os.environ.get("SPLATLAB_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
# The bundled sample scene, byte-identical to ../shared/data/scenes/donut_v3dg/fused.ply: tests that
# need only the donut read it from here and run without ../shared.
DONUT = REPO / "resources" / "scenes" / "donut" / "fused.ply"


def data_path(rel: str) -> Path:
    """Path of a file under ../shared/data; skips the test with the reason when absent."""
    p = DATA / rel
    if not p.exists():
        pytest.skip(f"test data {p} is absent (../shared/data is not beside this checkout)")
    return p


def splat_transform() -> str:
    """Path of the @playcanvas/splat-transform CLI, or skip (installed by packaging/test.sh)."""
    local = REPO / ".tools" / "node_modules" / ".bin" / "splat-transform"
    if local.exists():
        return str(local)
    found = shutil.which("splat-transform")
    if found:
        return found
    reason = "node is not installed" if shutil.which("node") is None else "splat-transform is not installed"
    pytest.skip(f"{reason} (packaging/test.sh installs @playcanvas/splat-transform into .tools/)")


def random_scene(n: int = 200, sh_degree: int = 0, seed: int = 0, extent: float = 1.0) -> GaussianScene:
    """A small random scene around the origin with plausible raw parameters."""
    g = torch.Generator().manual_seed(seed)
    k = sh_coeff_count(sh_degree)
    return GaussianScene(
        means=(torch.rand(n, 3, generator=g) - 0.5) * 2 * extent,
        quats=torch.randn(n, 4, generator=g),
        log_scales=torch.log(torch.rand(n, 3, generator=g) * 0.05 * extent + 0.005 * extent),
        opacity_logits=torch.randn(n, generator=g) * 2,
        sh=torch.randn(n, k, 3, generator=g) * torch.tensor([1.0] + [0.2] * (k - 1)).view(1, k, 1),
    )


@pytest.fixture
def donut_path() -> Path:
    return DONUT


@pytest.fixture(scope="module")
def tiny_capture():
    """The lego capture at 32 px (training and distillation tests); skips without ../shared."""
    import warnings

    from engine.io.captures import load_capture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lego lists frames whose image is missing
        return load_capture(data_path("captures/lego_nerf_synthetic"), max_side=32)
