"""Exact arithmetic: how the feed-forward codec's networks give bit-identical results everywhere.

The decoder must reproduce the encoder's probabilities bit for bit, in another process, with
another torch thread count (and on another device). Smol-GS (engine.codec.smol.entropy_model)
evaluates its context in float64 with 8-bit-grid weights and snaps mu/sigma/Delta to a 1/1024
grid; this module does the same and closes the remaining gap, the order in which a reduction
(a matrix product, a sum) adds its terms, by making every reduction *exact*:

- **weights** are stored on a per-tensor grid: integers in [-WEIGHT_LEVELS, WEIGHT_LEVELS] times
  a power of two (:func:`round_to_grid`);
- **activations** entering a matrix product are rounded to multiples of 2^-ACT_FRAC and clamped
  to +-ACT_MAX (:func:`snap`), so every product is an integer times 2^(e - ACT_FRAC) and a sum
  of up to 2^8 of them stays below 2^53: float64 adds them with no rounding at all, in any order
  (BLAS blocking, threads, CPU or CUDA give the same bits);
- **nonlinearities** use only correctly rounded IEEE operations (+ - * / sqrt, floor, abs, max),
  which give the same bits element by element on every machine: ReLU, and a *piecewise-linear
  base-2 exponential* :func:`pl_exp2` (2^floor(x) * (1 + frac(x)), the power of two built from
  its bits) in place of exp, used for sigma, for the quantisation steps and for the attention
  weights (:func:`pl_softmax`, whose sums are exact because its terms are on a 2^-20 grid);
- the entropy parameters are then snapped like Smol-GS's: mu to 1/1024 of a step, sigma and
  steps to 1/1024 of an octave (in the mantissa of :func:`pl_exp2`).

Training runs the same functions in float32 without the rounding (``exact=False``); the
difference is far below the quantisation steps. Budget of the exactness argument: activations
|x| <= 2^10 on a 2^-12 grid (22 bits), weights 12 bits, <= 256 inputs per product (8 bits):
42 bits; attention: scores 44 + 4 bits, values 22 + 16 (weights on 2^-16) + 12 (<= 4095 keys).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

ACT_FRAC = 12  # activation grid 2^-12
ACT_MAX = 1024.0
WEIGHT_LEVELS = 4095  # 12-bit weights
PROB_FRAC = 16  # attention weights on a 2^-16 grid
UNNORM_FRAC = 20  # un-normalised attention terms on a 2^-20 grid
SNAP = 1024.0  # mu in 1/1024 of a step; sigma and steps in 1/1024 of an octave
MAX_FAN_IN = 256


def snap(x: Tensor, exact: bool, frac: int = ACT_FRAC, limit: float = ACT_MAX) -> Tensor:
    """x rounded to multiples of 2^-frac and clamped to +-limit (exact mode); x unchanged otherwise."""
    if not exact:
        return x
    s = float(1 << frac)
    return torch.round(torch.clamp(x, -limit, limit) * s) / s


def pow2(e: Tensor) -> Tensor:
    """2^e for integer-valued float64 ``e`` in [-1022, 1023], built from the IEEE bits (exact)."""
    bits = (e.to(torch.int64) + 1023) << 52
    return bits.view(torch.float64)


def pl_exp2(x: Tensor, exact: bool) -> Tensor:
    """Piecewise-linear 2^x: 2^floor(x) * (1 + x - floor(x)); continuous, increasing, within 6.2 %
    of 2^x, differentiable almost everywhere. Exact mode clamps x to [-60, 60] (float64)."""
    if exact:
        x = torch.clamp(x, -60.0, 60.0)
        e = torch.floor(x)
        return pow2(e) * (1.0 + (x - e))
    e = torch.floor(x).detach()
    return torch.exp2(e) * (1.0 + (x - e))


def snap_log2(x: Tensor, exact: bool) -> Tensor:
    """A log2-domain value rounded to 1/SNAP (exact mode only)."""
    return torch.round(x * SNAP) / SNAP if exact else x


def linear(layer: torch.nn.Linear, x: Tensor, exact: bool) -> Tensor:
    """layer(x); exact mode: float64, x snapped, bias added after the (exact) product."""
    if not exact:
        return layer(x)
    if layer.in_features > MAX_FAN_IN:
        raise ValueError(f"a layer with {layer.in_features} inputs breaks the exact-sum budget ({MAX_FAN_IN})")
    y = torch.matmul(snap(x, True), layer.weight.T)
    return y + layer.bias if layer.bias is not None else y


def pl_softmax(scores: Tensor, exact: bool) -> Tensor:
    """Attention weights over the last axis from :func:`pl_exp2` (a base-2 softmax)."""
    s = scores - scores.amax(-1, keepdim=True).detach()
    p = pl_exp2(s, exact)
    p = snap(p, exact, UNNORM_FRAC, 1.0)
    p = p / p.sum(-1, keepdim=True)
    return snap(p, exact, PROB_FRAC, 1.0)


def grid_step(t: Tensor) -> float:
    """The power-of-two step that puts every value of ``t`` within +-WEIGHT_LEVELS steps."""
    m = float(t.detach().abs().max()) if t.numel() else 0.0
    if m == 0.0:
        return 1.0
    f, e = math.frexp(m / WEIGHT_LEVELS)  # m / L = f * 2^e, 0.5 <= f < 1
    return math.ldexp(1.0, e - 1 if f == 0.5 else e)  # the smallest power of two >= m / L


@torch.no_grad()
def round_to_grid(module: torch.nn.Module) -> torch.nn.Module:
    """Put every parameter of ``module`` on its 12-bit power-of-two grid, in place (idempotent)."""
    for p in module.parameters():
        step = grid_step(p)
        p.copy_(torch.clamp(torch.round(p.double() / step), -WEIGHT_LEVELS, WEIGHT_LEVELS).mul(step).to(p.dtype))
    return module
