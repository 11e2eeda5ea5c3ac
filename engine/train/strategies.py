"""Densification strategies: gsplat's DefaultStrategy and MCMCStrategy (3DGS as MCMC,
arXiv 2404.09591),
behind one small interface, runnable on CPU.

- DefaultStrategy in gsplat 1.5.3 never resets opacities (``step % every == 0 & step > 0`` is
  a chained comparison ending in ``0 > 0``); :class:`Densification` does the reset itself.
- MCMC's relocation and noise use CUDA kernels; on CPU tensors they are replaced by pure-torch
  twins (``relocation_torch`` here, and gsplat's own ``_quat_scale_to_covar_preci``) for the
  duration of each MCMC step only (:func:`cpu_twins`).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import torch
from torch import Tensor

from engine.train.config import TrainConfig


def relocation_torch(opacities: Tensor, scales: Tensor, ratios: Tensor, binoms: Tensor) -> tuple[Tensor, Tensor]:
    """Eq. 9 of "3D Gaussian Splatting as Markov Chain Monte Carlo" (Kheradmand et al. 2024):
    a Gaussian split into n copies keeps its rendered footprint when each copy gets opacity
    1 - (1 - o)^(1/n) and its scale times o / sum_{i=1..n} sum_{k<i} C(i-1,k) (-1)^k o'^(k+1)/sqrt(k+1).

    The double sum is sum_{k=0}^{n-1} C(n, k+1) (-1)^k o'^(k+1) / sqrt(k+1) (hockey stick);
    it is evaluated in float64 because the alternating terms cancel."""
    n_max = binoms.shape[0]
    n = ratios.clamp(1, n_max).long()  # [N]
    o = opacities.double()
    new_o = 1.0 - torch.pow(1.0 - o, 1.0 / n.double())
    k = torch.arange(n_max, dtype=torch.float64, device=o.device)  # [n_max]
    terms = (-1.0) ** k / torch.sqrt(k + 1) * new_o[:, None] ** (k + 1)  # [N, n_max]
    # C(n, k+1) for k < n, from Pascal's rule on the table: C(n, k+1) = sum_{j<n} C(j, k)
    table = torch.cumsum(binoms.double(), dim=0)  # table[m, k] = sum_{j<=m} C(j, k) = C(m+1, k+1)
    coeff = table[n - 1]  # [N, n_max]
    coeff = coeff * (k[None] < n[:, None])
    denom = (coeff * terms).sum(1)
    new_s = scales.double() * (o / denom)[:, None]
    return new_o.to(opacities.dtype), new_s.to(scales.dtype)


_CPU_TWINS_LOCK = threading.Lock()


@contextlib.contextmanager
def cpu_twins() -> Iterator[None]:
    """gsplat's MCMC ops with pure-torch twins of their two CUDA kernels, for the duration.

    ``gsplat.strategy.ops`` calls ``compute_relocation`` and ``quat_scale_to_covar_preci`` by
    their names in that module, so the only way to give its relocate / sample_add / noise a CPU
    path is to rebind those two names there. That is process-wide, so it is done here only: around
    one MCMC step on CPU tensors, under a lock (two CPU trainers in two threads take turns), and
    undone when the step returns. The twins still hand CUDA tensors to gsplat's kernels, so
    another thread's CUDA training that calls the ops meanwhile runs exactly as without them."""
    import gsplat.strategy.ops as ops
    from gsplat.cuda._torch_impl import _quat_scale_to_covar_preci

    with _CPU_TWINS_LOCK:
        cuda_relocation = ops.compute_relocation
        cuda_covar = ops.quat_scale_to_covar_preci

        def compute_relocation(opacities, scales, ratios, binoms):
            if opacities.is_cuda:
                return cuda_relocation(opacities, scales, ratios, binoms)
            return relocation_torch(opacities, scales, ratios, binoms)

        def quat_scale_to_covar_preci(quats, scales, compute_covar=True, compute_preci=True, triu=False):
            if quats.is_cuda:
                return cuda_covar(quats, scales, compute_covar, compute_preci, triu)
            return _quat_scale_to_covar_preci(quats, scales, compute_covar, compute_preci, triu)

        ops.compute_relocation = compute_relocation
        ops.quat_scale_to_covar_preci = quat_scale_to_covar_preci
        try:
            yield
        finally:
            ops.compute_relocation = cuda_relocation
            ops.quat_scale_to_covar_preci = cuda_covar


class Densification:
    """INRIA clone/split/prune through gsplat's DefaultStrategy, plus the opacity reset."""

    def __init__(self, cfg: TrainConfig):
        from gsplat.strategy import DefaultStrategy

        self.cfg = cfg
        self.inner = DefaultStrategy(
            prune_opa=cfg.prune_opa, grow_grad2d=cfg.grow_grad2d, refine_start_iter=cfg.refine_start,
            refine_stop_iter=cfg.refine_stop, reset_every=cfg.reset_every, refine_every=cfg.refine_every,
        )  # fmt: skip

    def initialize_state(self, scene_scale: float) -> dict:
        return self.inner.initialize_state(scene_scale=scene_scale)

    def step_pre_backward(self, params, optimizers, state, step, info) -> None:
        self.inner.step_pre_backward(params, optimizers, state, step, info)

    def after_step(self, params, optimizers, state, step, info, lr: float) -> None:
        from gsplat.strategy.ops import reset_opa

        self.inner.step_post_backward(params, optimizers, state, step, info, packed=False)
        # the reset gsplat 1.5.3 means to do but never does (see the module docstring)
        if 0 < step < self.cfg.refine_stop and step % self.cfg.reset_every == 0:
            reset_opa(params=params, optimizers=optimizers, state=state, value=self.cfg.prune_opa * 2.0)


class MCMC:
    """gsplat's MCMCStrategy: relocate dead Gaussians, grow to the ``cap_max`` budget, noise."""

    def __init__(self, cfg: TrainConfig):
        from gsplat.strategy import MCMCStrategy

        self.inner = MCMCStrategy(cap_max=cfg.cap_max, refine_start_iter=cfg.refine_start,
                                  refine_stop_iter=max(cfg.refine_stop, int(cfg.iterations * 25 / 30)),
                                  refine_every=cfg.refine_every, min_opacity=cfg.prune_opa)  # fmt: skip

    def initialize_state(self, scene_scale: float) -> dict:
        return self.inner.initialize_state()

    def step_pre_backward(self, params, optimizers, state, step, info) -> None:
        self.inner.step_pre_backward(params, optimizers, state, step, info)

    def after_step(self, params, optimizers, state, step, info, lr: float) -> None:
        if params["means"].is_cuda:
            self.inner.step_post_backward(params, optimizers, state, step, info, lr=lr)
            return
        with cpu_twins():  # gsplat's relocation and noise are CUDA kernels
            self.inner.step_post_backward(params, optimizers, state, step, info, lr=lr)


def make_strategy(cfg: TrainConfig, scene_extent: float):
    return MCMC(cfg) if cfg.strategy == "mcmc" else Densification(cfg)
