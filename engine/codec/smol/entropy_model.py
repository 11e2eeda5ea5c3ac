"""Learned quantisation and entropy model of the Smol-GS features and scale bounds
(Smol-GS, arXiv 2512.00850; HAC-style, arXiv 2403.14530).

For every splat a context network gives, per coded channel (8 feature values and 3 log scale
bounds), a mean mu, a spread sigma and a quantisation step Delta. Values are quantised as
Delta * round(v / Delta); the rate is the negative log2-likelihood of the Gaussian mass in the
Delta-wide bin (training), and the real coder is constriction's QuantizedGaussian on the integers
round(v / Delta) with per-symbol mean mu / Delta and spread sigma / Delta (coding).

Context: the paper feeds a multi-resolution hash grid of the position (2D and 3D tables of 2^13-
2^15 entries x 4 features x 16 levels) to MLP_h. SplatLab uses a lighter equivalent: MLP_h reads
the decoder's octree-code embedding (the 8 values MLP_oct already computes from the 48 Morton
bits), so the context costs only MLP_h's ~1.4k parameters in the file instead of the tables; the
price is a coarser spatial context (see the benchmark for the bits per splat it reaches).

Determinism: encoder and decoder evaluate the context in float64 on the CPU with the weights as
stored (8-bit), and snap mu, sigma and Delta to a 1/1024 grid (in units of Delta for mu, log2
for sigma and Delta), so the model is bit-identical on both sides and on any device.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from engine.codec.smol.model import FEATURE_DIM, OCT_DIM

CODED = FEATURE_DIM + 3  # 8 feature values + 3 log scale bounds
SNAP = 1024.0
MIN_SIGMA = 1e-3
LOG2 = math.log(2.0)


class ContextModel(nn.Module):
    """MLP_h: octree-code embedding [N, 8] -> (mu, sigma, delta) [N, 11] each."""

    def __init__(self, hidden: int = 32, base_step: float = 0.05):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(OCT_DIM, hidden), nn.ReLU(), nn.Linear(hidden, 3 * CODED))
        with torch.no_grad():
            self.net[-1].weight.mul_(0.01)
            b = torch.zeros(3 * CODED)
            b[CODED : 2 * CODED] = math.log(0.5)  # sigma
            b[2 * CODED :] = math.log(base_step)  # delta
            self.net[-1].bias.copy_(b)

    def forward(self, oct_embed: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self.net(oct_embed)
        mu, log_sigma, log_delta = out.split(CODED, dim=1)
        return mu, torch.exp(log_sigma).clamp_min(MIN_SIGMA), torch.exp(log_delta).clamp(1e-4, 10.0)


def quantise_ste(v: Tensor, delta: Tensor) -> Tensor:
    """Delta * round(v / Delta): straight-through to v, and the learned-step-size gradient
    round(v/Delta) - v/Delta to Delta (Esser et al. 2020, LSQ)."""
    x = v / delta
    return delta * (x + (torch.round(x) - x).detach())


def rate_bits(v_hat: Tensor, mu: Tensor, sigma: Tensor, delta: Tensor) -> Tensor:
    """-log2 P(bin of v_hat) under N(mu, sigma) with bins Delta wide ([N, C] bits)."""
    dist = torch.distributions.Normal(mu, sigma)
    upper = dist.cdf(v_hat + 0.5 * delta)
    lower = dist.cdf(v_hat - 0.5 * delta)
    p = (upper - lower).clamp_min(1e-9)
    return -torch.log(p) / LOG2


def estimated_rate(context: ContextModel, oct_embed: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
    """The training-time rate: ``values`` [N, 11] quantised on the context's steps (straight
    through) and their estimated bits per splat [N], the term ``lambda_q`` weighs. It estimates
    the ``coded`` section only (features and scale bounds; not the octree or the networks) and
    tracks its real size (tests/test_smol.py)."""
    mu, sigma, delta = context(oct_embed)
    q = quantise_ste(values, delta)
    return q, rate_bits(q, mu, sigma, delta).sum(1)


def snapped_params(model: ContextModel, oct_embed64: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The coder's (mu, sigma, delta) [N, 11], float64, snapped to a grid (see the docstring).

    ``oct_embed64`` must come from the stored (8-bit grid) MLP_oct run in float64.
    """
    net = model.net
    x = oct_embed64
    for layer in net:
        if isinstance(layer, nn.Linear):
            x = x @ layer.weight.double().T + layer.bias.double()
        else:
            x = torch.relu(x)
    mu, log_sigma, log_delta = x.split(CODED, dim=1)
    log2_delta = torch.round(torch.clamp(log_delta / LOG2, math.log2(1e-4), math.log2(10.0)) * SNAP) / SNAP
    delta = torch.pow(2.0, log2_delta)
    log2_sigma = torch.round(torch.clamp(log_sigma / LOG2, math.log2(MIN_SIGMA), 20.0) * SNAP) / SNAP
    sigma = torch.pow(2.0, log2_sigma)
    mu_in_steps = torch.round(mu / delta * SNAP) / SNAP
    return mu_in_steps * delta, sigma, delta
