"""GaussianScene: a 3D Gaussian splat scene in raw (pre-activation) parameters.

The tensors follow the INRIA 3DGS PLY conventions exactly (repo graphdeco-inria/gaussian-splatting,
scene/gaussian_model.py), so that loading
and saving a PLY reproduces it bit for bit:

- ``means``           [N, 3]     world positions
- ``quats``           [N, 4]     unnormalised quaternions, w first (PLY rot_0..3)
- ``log_scales``      [N, 3]     natural-log scales (PLY scale_0..2)
- ``opacity_logits``  [N]        logit of opacity (PLY opacity)
- ``sh``              [N, K, 3]  SH coefficients, K = (d+1)^2, DC first, RGB inner

Activation happens in one place: :meth:`GaussianScene.activated`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from engine.errors import InputError

SH_C0 = 0.28209479177387814


def sh_coeff_count(degree: int) -> int:
    """Number of SH coefficients per channel for a degree: 1, 4, 9, 16."""
    return (degree + 1) ** 2


def sh_degree_from_count(k: int) -> int:
    d = int(round(math.sqrt(k))) - 1
    if d < 0 or (d + 1) ** 2 != k:
        raise ValueError(f"{k} SH coefficients per channel is not (d+1)^2 for any degree")
    return d


def rgb_to_sh_dc(rgb: np.ndarray | Tensor):
    """Colour in [0, 1] -> SH DC coefficient (inverse of 0.5 + C0 * f_dc)."""
    return (rgb - 0.5) / SH_C0


def sh_dc_to_rgb(dc: np.ndarray | Tensor):
    return dc * SH_C0 + 0.5


def _nonfinite_rows(*tables: Tensor, chunk: int = 1 << 14) -> Tensor:
    """[N] bool: rows holding NaN or +-Inf in any of the [N, k] tables. Works in row chunks so
    checking a multi-GB scene needs no full-size temporaries (numpy's isfinite on CPU views is
    several times faster than torch's)."""
    n = tables[0].shape[0]
    if tables[0].device.type != "cpu":
        return torch.stack([~torch.isfinite(t).all(1) for t in tables]).any(0)
    arrays = [t.detach().numpy() for t in tables]
    out = np.zeros(n, dtype=bool)
    for s in range(0, n, chunk):
        for a in arrays:
            out[s : s + chunk] |= ~np.isfinite(a[s : s + chunk]).all(1)
    return torch.from_numpy(out)


@dataclass
class ActivatedGaussians:
    """Activated parameters, ready for a rasterizer (gsplat's argument conventions)."""

    means: Tensor  # [N, 3]
    quats: Tensor  # [N, 4] unit wxyz
    scales: Tensor  # [N, 3] linear
    opacities: Tensor  # [N] in (0, 1)
    sh: Tensor  # [N, K, 3]

    @property
    def sh_degree(self) -> int:
        return sh_degree_from_count(self.sh.shape[1])


@dataclass
class GaussianScene:
    means: Tensor  # [N, 3] float32
    quats: Tensor  # [N, 4] float32, wxyz, unnormalised
    log_scales: Tensor  # [N, 3] float32
    opacity_logits: Tensor  # [N] float32
    sh: Tensor  # [N, K, 3] float32, DC first
    # Per-splat properties a format carried that are not Gaussian parameters (e.g. PLY normals,
    # a "filter_3D" column): name -> [N] array, in file order. Kept so a round trip is exact.
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    # Free-form facts about where the scene came from: "format", "path", "ply_properties"
    # (original property order and types), "comments", "antialiased" (render flag), ...
    meta: dict[str, Any] = field(default_factory=dict)
    # A view-dependent representation these Gaussians were baked from (a decoded Smol-GS scene):
    # engine.render draws it exactly; the tensors above are its baked approximation for the OpenGL
    # viewport and for other formats. subset() drops it (the splats would no longer match).
    neural: Any = None

    # ------------------------------------------------------------------ basics
    def __post_init__(self) -> None:
        n = self.means.shape[0]
        shapes = {
            "means": (self.means, (n, 3)),
            "quats": (self.quats, (n, 4)),
            "log_scales": (self.log_scales, (n, 3)),
            "opacity_logits": (self.opacity_logits, (n,)),
        }
        for name, (t, shape) in shapes.items():
            if tuple(t.shape) != shape:
                raise ValueError(f"GaussianScene.{name} has shape {tuple(t.shape)}, expected {shape}")
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3:
            raise ValueError(f"GaussianScene.sh has shape {tuple(self.sh.shape)}, expected (N, K, 3)")
        sh_degree_from_count(self.sh.shape[1])
        for name, arr in self.extras.items():
            if len(arr) != n:
                raise ValueError(f"extra property {name!r} has {len(arr)} rows, scene has {n}")

    @property
    def count(self) -> int:
        return int(self.means.shape[0])

    def __len__(self) -> int:
        return self.count

    @property
    def sh_degree(self) -> int:
        return sh_degree_from_count(self.sh.shape[1])

    @property
    def device(self) -> torch.device:
        return self.means.device

    @classmethod
    def empty(cls, sh_degree: int = 0) -> "GaussianScene":
        k = sh_coeff_count(sh_degree)
        z = torch.zeros
        return cls(z(0, 3), z(0, 4), z(0, 3), z(0), z(0, k, 3))

    @classmethod
    def from_activated(
        cls,
        means: Tensor,  # [N, 3]
        quats: Tensor,  # [N, 4] wxyz
        scales: Tensor,  # [N, 3] linear, > 0
        opacities: Tensor,  # [N] in (0, 1)
        sh: Tensor,  # [N, K, 3]
        **kw: Any,
    ) -> "GaussianScene":
        eps = 1e-7
        opac = opacities.clamp(eps, 1 - eps)
        return cls(
            means=means,
            quats=quats,
            log_scales=torch.log(scales.clamp_min(1e-30)),
            opacity_logits=torch.log(opac) - torch.log1p(-opac),
            sh=sh,
            **kw,
        )

    def activated(self) -> ActivatedGaussians:
        """The one place where raw parameters become renderable ones."""
        return ActivatedGaussians(
            means=self.means,
            quats=torch.nn.functional.normalize(self.quats, dim=-1),
            scales=torch.exp(self.log_scales),
            opacities=torch.sigmoid(self.opacity_logits),
            sh=self.sh,
        )

    # ------------------------------------------------------------------ transforms
    def replace(self, **changes: Any) -> "GaussianScene":
        return dataclasses.replace(self, **changes)

    def subset(self, index: Tensor | np.ndarray | slice) -> "GaussianScene":
        """Rows selected by a boolean mask, an index array or a slice (extras follow)."""
        if isinstance(index, Tensor):
            idx_np = index.detach().cpu().numpy()
        else:
            idx_np = index
        idx_t = index if isinstance(index, (Tensor, slice)) else torch.as_tensor(index)
        return GaussianScene(
            means=self.means[idx_t],
            quats=self.quats[idx_t],
            log_scales=self.log_scales[idx_t],
            opacity_logits=self.opacity_logits[idx_t],
            sh=self.sh[idx_t],
            extras={k: v[idx_np] for k, v in self.extras.items()},
            meta=dict(self.meta),
        )

    def with_sh_degree(self, degree: int) -> "GaussianScene":
        """Drop bands above ``degree`` or pad missing bands with zeros."""
        k = sh_coeff_count(degree)
        have = self.sh.shape[1]
        if k == have:
            return self
        if k < have:
            sh = self.sh[:, :k].contiguous()
        else:
            pad = torch.zeros(self.count, k - have, 3, dtype=self.sh.dtype, device=self.sh.device)
            sh = torch.cat([self.sh, pad], dim=1)
        return self.replace(sh=sh)

    def to(self, device: str | torch.device) -> "GaussianScene":
        t = lambda x: x.to(device)  # noqa: E731
        return self.replace(
            means=t(self.means),
            quats=t(self.quats),
            log_scales=t(self.log_scales),
            opacity_logits=t(self.opacity_logits),
            sh=t(self.sh),
        )

    def detach(self) -> "GaussianScene":
        d = lambda x: x.detach()  # noqa: E731
        return self.replace(
            means=d(self.means),
            quats=d(self.quats),
            log_scales=d(self.log_scales),
            opacity_logits=d(self.opacity_logits),
            sh=d(self.sh),
        )

    # ------------------------------------------------------------------ checks and facts
    def invalid_rows(self) -> Tensor:
        """[N] bool: rows with NaN/Inf in any parameter or a zero-norm quaternion."""
        return _nonfinite_rows(self.means, self.quats, self.log_scales, self.opacity_logits[:, None],
                               self.sh.reshape(self.count, -1)) | (self.quats == 0).all(1)  # fmt: skip

    def validate(self, path: str | None = None) -> None:
        """Raise InputError naming ``path`` if any row is invalid (NaN/Inf, zero quaternion)."""
        if self.count == 0:
            return
        bad = self.invalid_rows()
        nbad = int(bad.sum())
        if nbad == 0:
            return
        first = int(torch.nonzero(bad)[0])
        kinds = []
        checks = {
            "NaN/Inf position": _nonfinite_rows(self.means),
            "NaN/Inf rotation": _nonfinite_rows(self.quats),
            "NaN/Inf scale": _nonfinite_rows(self.log_scales),
            "NaN/Inf opacity": _nonfinite_rows(self.opacity_logits[:, None]),
            "NaN/Inf colour": _nonfinite_rows(self.sh.reshape(self.count, -1)),
            "zero quaternion": (self.quats == 0).all(1),
        }
        for name, mask in checks.items():
            c = int(mask.sum())
            if c:
                kinds.append(f"{c} with {name}")
        raise InputError(
            path,
            f"{nbad} of {self.count} splats are invalid ({', '.join(kinds)}; first at row {first}); "
            "use --drop-invalid to load the rest",
        )

    def drop_invalid(self) -> tuple["GaussianScene", int]:
        bad = self.invalid_rows()
        n = int(bad.sum())
        return (self.subset(~bad) if n else self), n

    def robust_bounds(self, lo_pct: float = 2.0, hi_pct: float = 98.0) -> tuple[np.ndarray, np.ndarray]:
        """Per-axis percentile box of the means: ignores a few far-away floaters."""
        if self.count == 0:
            return np.zeros(3), np.zeros(3)
        m = self.means.detach().cpu().numpy().astype(np.float64)
        if m.shape[0] > 200_000:  # a fixed-stride sample is plenty for percentiles
            m = m[:: m.shape[0] // 200_000]
        return np.percentile(m, lo_pct, axis=0), np.percentile(m, hi_pct, axis=0)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if self.count == 0:
            return np.zeros(3), np.zeros(3)
        m = self.means.detach()
        return m.min(0).values.cpu().numpy().astype(np.float64), m.max(0).values.cpu().numpy().astype(np.float64)
