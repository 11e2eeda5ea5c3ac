"""Smol-GS representation (arXiv 2512.00850).

Per splat: a position x, an abstract feature f (8 values) and a scale bound s (3 values), and no
SH. Tiny MLPs decode, per view, from the 20-D input [f, MLP_oct(octree code), unit direction from
the splat to the camera, distance to the camera]:

    MLP_o -> opacity   (tanh, clamped >= 0)       MLP_c -> RGB (sigmoid)
    MLP_r -> rotation  (normalised quaternion)    MLP_s -> scale = s * sigmoid(.)

MLP_oct embeds the 48 bits of the splat's octree (Morton) code: positional encoding for free.

Sizes: the paper's heads have 3 layers of 128 units (about 82k parameters, 0.16 MB). A CPU-scale
scene of 20-50k splats cannot afford that within 100x of its PLY, so the width is a parameter
(``hidden``); SplatLab's CPU default is 32 units (about 7k parameters, stored as 8-bit integers in the
file). The entropy model's context is lighter than the paper's hash grid: a small MLP over the
same octree-code embedding (see ``entropy_model.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engine.codec import octree

FEATURE_DIM = 8
CODE_BITS = 16  # octree levels per axis: 48 code bits
OCT_DIM = 8


@dataclass(frozen=True)
class SmolArch:
    hidden: int = 32  # width of the decoder heads (paper: 128)
    oct_hidden: int = 64  # MLP_oct: 48 -> 64 -> 8 (paper)
    ctx_hidden: int = 32  # entropy-model context MLP

    def to_dict(self) -> dict:
        return {"hidden": self.hidden, "oct_hidden": self.oct_hidden, "ctx_hidden": self.ctx_hidden}


def _mlp(inp: int, hidden: int, out: int, layers: int = 3) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = inp
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, out))
    return nn.Sequential(*mods)


def code_bits(means: Tensor, lo: Tensor, side: float) -> Tensor:
    """[N, 48] float {0, 1}: the bits of each position's 16-level octree (Morton) code."""
    n = 1 << CODE_BITS
    cells = torch.clamp(torch.floor((means.detach().double() - lo.double()) / side * n), 0, n - 1).long()
    codes = torch.from_numpy(octree.morton_encode(cells.cpu().numpy()).astype("int64")).to(means.device)
    shifts = torch.arange(3 * CODE_BITS, device=means.device)
    return ((codes[:, None] >> shifts) & 1).float()


class SmolDecoder(nn.Module):
    """The per-view heads and the octree-code embedding (the networks a .smol file stores)."""

    def __init__(self, arch: SmolArch = SmolArch()):
        super().__init__()
        self.arch = arch
        self.mlp_oct = _mlp(3 * CODE_BITS, arch.oct_hidden, OCT_DIM, layers=2)
        inp = FEATURE_DIM + OCT_DIM + 4
        self.mlp_o = _mlp(inp, arch.hidden, 1)
        self.mlp_c = _mlp(inp, arch.hidden, 3)
        self.mlp_r = _mlp(inp, arch.hidden, 4)
        self.mlp_s = _mlp(inp, arch.hidden, 3)
        with torch.no_grad():  # start near identity rotations and mid-size scales
            self.mlp_r[-1].bias.copy_(torch.tensor([2.0, 0.0, 0.0, 0.0]))

    def forward(
        self,
        features: Tensor,  # [N, 8]
        oct_embed: Tensor,  # [N, 8] = mlp_oct(code bits)
        scale_bounds: Tensor,  # [N, 3] positive
        means: Tensor,  # [N, 3]
        cam_center: Tensor,  # [3]
        extent: float,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Per-view (opacities [N], colours [N, 3], unit quats [N, 4], scales [N, 3])."""
        d = cam_center[None, :] - means  # from the splat to the camera
        dist = d.norm(dim=1, keepdim=True).clamp_min(1e-9)
        x = torch.cat([features, oct_embed, d / dist, dist / extent], dim=1)
        opac = torch.tanh(self.mlp_o(x)[:, 0]).clamp_min(0.0)
        rgb = torch.sigmoid(self.mlp_c(x))
        quats = torch.nn.functional.normalize(self.mlp_r(x), dim=1)
        scales = scale_bounds * torch.sigmoid(self.mlp_s(x))
        return opac, rgb, quats, scales

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def initial_scale_bounds(scales: Tensor) -> Tensor:
    """Bound = 2 x the initial scale, so sigmoid(.) starts near 0.5 of it."""
    return 2.0 * scales


def bbox(means: Tensor) -> tuple[Tensor, float]:
    """The cube the octree is built over: (lo [3], side)."""
    lo = means.detach().min(0).values
    side = float((means.detach().max(0).values - lo).max()) * (1 + 2**-20) + 1e-9
    return lo, side


def level_cell(side: float) -> float:
    return side / (1 << CODE_BITS)


def snap_to_octree(means: Tensor, lo: Tensor, side: float) -> Tensor:
    """Leaf-cell centres of the 16-level octree (the decoded positions)."""
    n = 1 << CODE_BITS
    cells = torch.clamp(torch.floor((means - lo) / side * n), 0, n - 1)
    return lo + (cells + 0.5) * (side / n)

