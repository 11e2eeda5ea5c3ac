"""The feed-forward codec's networks (long-context codec, arXiv 2512.00877 §3; FCGS, arXiv 2410.08017).

Every forward takes ``exact``: False for training (float32, autograd), True for coding (float64
copy of the model on its weight grid, evaluated with exact.py's bit-exact arithmetic).

- :class:`PosEmbed` - positional embedding of the quantised positions inside a window (§3.3 uses
  a DGCNN over the quantised points). Here: triangle-wave Fourier features of the position
  normalised to the window's box (the same role as sin/cos features, but exact arithmetic), plus
  one EdgeConv-style layer over the window's Morton neighbours (an MLP on each offset to the
  8 Gaussians at -4..+4 in Morton order, max-pooled): a cheap stand-in for the DGCNN's k-NN
  graph, since Morton neighbours are mostly spatial neighbours.
- :class:`GeometryModel` - opacity logit (1), log scales (3) and the sign-normalised unit
  quaternion (4) quantised with learned per-channel, per-level steps and coded losslessly under
  the space-channel autoregressive model (§3.4): for spatial group g (serialise.INTERLEAVE) and
  channel chunk c ([opacity], [scales], [rotation]) a head predicts (mu, sigma) per channel from
  the positional embedding, the decoded attributes of the Morton neighbours in earlier groups
  (zeros and a 0 flag elsewhere) and the earlier chunks of the same Gaussian.
- :class:`ColourModel` - the attention transform coder of the 48 SH values (§3.3): analysis
  MLP(SH, posemb) -> self-attention in the window -> latent y [n, latent]; quantised (rounded; noise
  in training); synthesis = attention over (y_hat, posemb) -> SH. The latent is coded under the same
  space-channel model (groups x latent chunks). A division network (32 channels, §3.2) marks
  *sensitive* Gaussians, whose SH are quantised directly and coded with their own context model
  conditioned on the synthesis output at their position (the decoded lossy colour of their
  neighbours, through the attention) and the earlier chunk ([DC], [higher bands]).
- **Levels**: one lambda-conditioned model. Levels 1 (best) .. ``LEVELS`` (smallest), as the
  ladder numbers them; each has a lambda (``LAMBDAS``, the training trade-off), a one-hot input of
  every context head, learned log2 quantisation steps (geometry, sensitive SH) and a learned log2
  gain vector scaling the latent before rounding (variable rate by gain units).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from engine.codec.feedforward import exact as E
from engine.codec.feedforward.serialise import GROUPS, NEIGHBOUR_OFFSETS

LEVELS = 8
# lambda per level (RGB-unit distortion vs bits per Gaussian); to be calibrated on the corpus
LAMBDAS = {1: 65536.0, 2: 32768.0, 3: 16384.0, 4: 8192.0, 5: 4096.0, 6: 2048.0, 7: 1024.0, 8: 512.0}
K = len(NEIGHBOUR_OFFSETS)
GEOM = 8  # opacity logit, 3 log scales, 4 quaternion components (w >= 0)
GEOM_CHUNKS = ((0, 1), (1, 4), (4, 8))
SH_CHANNELS = 48  # 16 coefficients x RGB, coefficient-major (scene.sh[:, k, c] -> k * 3 + c)
SENS_CHUNKS = ((0, 3), (3, SH_CHANNELS))  # [DC], [higher bands]
# Fixed normalisation of the network inputs (powers of two: exact): x_norm = (x - OFFSET) / SCALE
GEOM_OFFSET = (0.0, -4.0, -4.0, -4.0, 0.0, 0.0, 0.0, 0.0)
GEOM_SCALE = (4.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0)
COLOUR_SCALE = (1.0,) * 3 + (4.0,) * (SH_CHANNELS - 3)  # sh_norm = sh * COLOUR_SCALE
GEOM_LOG2_STEP = (-6.0, -6.0, -6.0, -6.0, -8.0, -8.0, -8.0, -8.0)  # level 1, value units
SENS_LOG2_STEP = -6.0  # level 1, normalised SH units
LEVEL_LOG2_SLOPE = 0.5  # initial steps grow by 2^0.5 per level (training moves them)
MIN_SIGMA_STEPS = 1.0 / 16  # sigma floor, in quantisation steps


@dataclass(frozen=True)
class Arch:
    dim: int = 32  # width of every hidden layer and of the positional embedding
    heads: int = 2
    latent: int = 16  # C_y
    latent_chunks: int = 4
    fourier: int = 4  # octaves of the triangle-wave features
    attn_layers: int = 1  # per transform (analysis, synthesis)
    division: int = 32  # width of the division network (§3.2: "a light division network, 32 channels")
    attn_pool: int = 8  # keys / values pooled this many to one in Morton order (1: full attention)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Arch":
        return cls(**{k: int(v) for k, v in d.items()})


def level_onehot(level: int, n: int, like: Tensor) -> Tensor:
    """[n, LEVELS] one-hot of ``level`` (1-based)."""
    out = torch.zeros(n, LEVELS, dtype=like.dtype)
    out[:, level - 1] = 1.0
    return out


def vec(values, like: Tensor) -> Tensor:
    return torch.tensor(values, dtype=like.dtype)


class MLP(nn.Module):
    """Linear-ReLU-...-Linear."""

    def __init__(self, sizes: list[int]):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: Tensor, exact: bool = False) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = E.linear(layer, x, exact)
            if i + 1 < len(self.layers):
                x = torch.relu(x)
        return x


def _tri(t: Tensor) -> Tensor:
    """Triangle wave of period 1 in [0, 1] (a sin/cos stand-in made of exact operations)."""
    return torch.abs(2.0 * (t - torch.floor(t)) - 1.0)


class PosEmbed(nn.Module):
    """cells [n, 3] (one window) -> posemb [n, dim]."""

    def __init__(self, arch: Arch):
        super().__init__()
        self.fourier = arch.fourier
        self.edge = MLP([4, arch.dim, arch.dim])  # per neighbour: offset (3) and valid flag
        self.out = MLP([3 + 6 * arch.fourier + arch.dim, arch.dim, arch.dim])

    def forward(self, cells: Tensor, nbr: Tensor, valid: Tensor, exact: bool = False) -> Tensor:
        # cells: [n, 3] float (integer valued); nbr: [n, K] long; valid: [n, K] float 0/1
        lo = cells.amin(0)
        span = (cells.amax(0) - lo).amax() + 1.0
        u = (cells - lo) / span  # [n, 3] in [0, 1)
        feats = [u]
        for f in range(self.fourier):
            t = u * float(1 << f)
            feats += [_tri(t), _tri(t + 0.25)]
        d = (cells[nbr] - cells[:, None, :]) / span  # [n, K, 3]
        d = torch.sign(d) * torch.sqrt(torch.abs(d)) * 4.0 * valid[..., None]
        e = torch.relu(self.edge(torch.cat([d, valid[..., None]], -1), exact)) * valid[..., None]  # [n, K, dim]
        return self.out(torch.cat(feats + [e.amax(1)], 1), exact)  # [n, dim]


class Attention(nn.Module):
    """Self-attention over a whole window, then an MLP (both residual).

    Queries are the window's Gaussians; keys and values come from the window's Gaussians pooled
    ``pool`` to 1 in Morton order (means of consecutive runs: spatially compact, since Morton
    order is). Every Gaussian still sees the whole window (the long context of arXiv 2512.00877
    §3.3), at ``pool`` times less cost than full attention (``pool=1``), which is what keeps the
    float64 exact evaluation within seconds per 100k Gaussians on a CPU."""

    def __init__(self, dim: int, heads: int, pool: int = 1):
        super().__init__()
        self.heads, self.pool = heads, pool
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ff = MLP([dim, 2 * dim, dim])
        hd = dim // heads
        self.scale = 2.0 ** -round(math.log2(hd) / 2)  # ~1/sqrt(head dim), a power of two (exact)

    def _pooled(self, x: Tensor, exact: bool) -> Tensor:
        """[ceil(n / pool), dim]: means of consecutive runs of ``pool`` rows (exact sums)."""
        n, dim = x.shape
        if self.pool <= 1:
            return x
        s = -(-n // self.pool)
        xs = torch.cat([E.snap(x, exact), x.new_zeros(s * self.pool - n, dim)]).view(s, self.pool, dim).sum(1)
        counts = torch.full((s,), float(self.pool), dtype=x.dtype)
        counts[-1] = n - (s - 1) * self.pool
        return xs / counts[:, None]

    def forward(self, x: Tensor, exact: bool = False) -> Tensor:
        n, dim = x.shape  # x: [n, dim]
        h, hd = self.heads, dim // self.heads
        q = E.snap(E.linear(self.q, x, exact), exact).view(n, h, hd).transpose(0, 1)  # [h, n, hd]
        xp = self._pooled(x, exact)
        kv = E.snap(E.linear(self.kv, xp, exact), exact).view(len(xp), 2, h, hd).permute(1, 2, 0, 3)  # [2, h, s, hd]
        p = E.pl_softmax(torch.matmul(q, kv[0].transpose(-1, -2)) * self.scale, exact)  # [h, n, s]
        o = torch.matmul(p, kv[1]).transpose(0, 1).reshape(n, dim)
        x = x + E.linear(self.proj, o, exact)
        return x + self.ff(x, exact)


def neighbour_context(values: Tensor, nbr: Tensor, avail: Tensor) -> Tensor:
    """values [n, C], nbr [n, K], avail [n, K] 0/1 -> [n, K * (C + 1)]: the neighbours' values
    where available (zeros elsewhere) and the availability flags."""
    nb = values[nbr] * avail[..., None]  # [n, K, C]
    return torch.cat([nb, avail[..., None]], -1).flatten(1)


def sigma_from(raw: Tensor, exact: bool) -> Tensor:
    """sigma = pl_exp2(raw), raw snapped to 1/1024 of an octave in exact mode."""
    return E.pl_exp2(E.snap_log2(raw, exact), exact)


class GeometryModel(nn.Module):
    def __init__(self, arch: Arch):
        super().__init__()
        ctx = arch.dim + K * (GEOM + 1) + GROUPS + LEVELS
        self.heads = nn.ModuleList(MLP([ctx + a, arch.dim, 2 * (b - a)]) for a, b in GEOM_CHUNKS)
        init = torch.tensor(GEOM_LOG2_STEP)[None, :] + LEVEL_LOG2_SLOPE * torch.arange(LEVELS)[:, None]
        self.log2_step = nn.Parameter(init)  # [LEVELS, 8]

    def steps(self, level: int, exact: bool) -> Tensor:
        """[8] quantisation steps (value units) of ``level``."""
        return E.pl_exp2(E.snap_log2(self.log2_step[level - 1], exact), exact)

    def params(self, c: int, rows: Tensor, posemb: Tensor, norm: Tensor, nbr: Tensor, avail: Tensor,
               group_oh: Tensor, level_oh: Tensor, exact: bool) -> tuple[Tensor, Tensor]:  # fmt: skip
        """(mu, sigma) [r, w_c] in value units for the Gaussians ``rows`` [r] of a window.

        posemb [n, dim]; norm [n, 8]: normalised decoded geometry (anything where not decoded:
        it is masked); nbr, avail [n, K]; group_oh [n, GROUPS]; level_oh [n, LEVELS]."""
        a, b = GEOM_CHUNKS[c]
        x = torch.cat([posemb[rows], neighbour_context(norm, nbr[rows], avail[rows]), group_oh[rows], level_oh[rows],
                       norm[rows, :a]], 1)  # fmt: skip
        out = self.heads[c](x, exact)
        scale = vec(GEOM_SCALE[a:b], out)
        mu = out[:, : b - a] * scale + vec(GEOM_OFFSET[a:b], out)
        return mu, sigma_from(out[:, b - a :], exact) * scale


class ColourModel(nn.Module):
    def __init__(self, arch: Arch):
        super().__init__()
        d, cy = arch.dim, arch.latent
        if cy % arch.latent_chunks:
            raise ValueError("latent channels must split evenly into latent chunks")
        self.latent_chunks = [(i * cy // arch.latent_chunks, (i + 1) * cy // arch.latent_chunks) for i in range(arch.latent_chunks)]
        self.analysis_in = MLP([SH_CHANNELS + d, d, d])
        self.analysis_attn = nn.ModuleList(Attention(d, arch.heads, arch.attn_pool) for _ in range(arch.attn_layers))
        self.analysis_out = nn.Linear(d, cy)
        self.synthesis_in = MLP([cy + 1 + d, d, d])
        self.synthesis_attn = nn.ModuleList(Attention(d, arch.heads, arch.attn_pool) for _ in range(arch.attn_layers))
        self.synthesis_out = MLP([d, d, SH_CHANNELS])
        self.log2_gain = nn.Parameter(2.0 - LEVEL_LOG2_SLOPE * torch.arange(LEVELS, dtype=torch.float32)[:, None].repeat(1, cy))
        lat_ctx = d + K * (cy + 1) + GROUPS + LEVELS
        self.latent_heads = nn.ModuleList(MLP([lat_ctx + a, d, 2 * (b - a)]) for a, b in self.latent_chunks)
        self.division = MLP([SH_CHANNELS + d + LEVELS, arch.division, 1])
        sens_ctx = d + SH_CHANNELS + LEVELS
        self.sens_heads = nn.ModuleList(MLP([sens_ctx + a, d, 2 * (b - a)]) for a, b in SENS_CHUNKS)
        self.log2_sens_step = nn.Parameter(SENS_LOG2_STEP + LEVEL_LOG2_SLOPE * torch.arange(LEVELS, dtype=torch.float32)[:, None]
                                           .repeat(1, SH_CHANNELS))  # fmt: skip

    def gain(self, level: int, exact: bool) -> Tensor:
        """[latent] gain of ``level``: y_hat = round(y * gain)."""
        return E.pl_exp2(E.snap_log2(self.log2_gain[level - 1], exact), exact)

    def sens_steps(self, level: int, exact: bool) -> Tensor:
        """[48] steps (normalised SH units) of the directly quantised (sensitive) colours."""
        return E.pl_exp2(E.snap_log2(self.log2_sens_step[level - 1], exact), exact)

    def analysis(self, sh_norm: Tensor, posemb: Tensor, exact: bool = False) -> Tensor:
        """sh_norm [n, 48], posemb [n, dim] -> y [n, latent] (before the level gain)."""
        x = self.analysis_in(torch.cat([sh_norm, posemb], 1), exact)
        for blk in self.analysis_attn:
            x = blk(x, exact)
        return E.linear(self.analysis_out, x, exact)

    def synthesis(self, y_deq: Tensor, sens: Tensor, posemb: Tensor, exact: bool = False) -> Tensor:
        """y_deq [n, latent] (y_hat / gain; zeros for sensitive rows), sens [n] 0/1 -> sh_norm [n, 48]."""
        x = self.synthesis_in(torch.cat([y_deq, sens[:, None], posemb], 1), exact)
        for blk in self.synthesis_attn:
            x = blk(x, exact)
        return self.synthesis_out(x, exact)

    def divide(self, sh_norm: Tensor, posemb: Tensor, level_oh: Tensor, exact: bool = False) -> Tensor:
        """[n] logit of "sensitive" (direct quantisation, coded losslessly) vs the lossy transform."""
        return self.division(torch.cat([sh_norm, posemb, level_oh], 1), exact)[:, 0]

    def latent_params(self, c: int, rows: Tensor, posemb: Tensor, y_hat: Tensor, nbr: Tensor, avail: Tensor,
                      group_oh: Tensor, level_oh: Tensor, exact: bool) -> tuple[Tensor, Tensor]:  # fmt: skip
        """(mu, sigma) [r, w_c] in latent units (step 1) for the latent chunk ``c`` of ``rows``."""
        a, b = self.latent_chunks[c]
        x = torch.cat([posemb[rows], neighbour_context(y_hat, nbr[rows], avail[rows]), group_oh[rows], level_oh[rows],
                       y_hat[rows, :a]], 1)  # fmt: skip
        out = self.latent_heads[c](x, exact)
        return out[:, : b - a], sigma_from(out[:, b - a :], exact)

    def sens_params(self, c: int, rows: Tensor, posemb: Tensor, synth: Tensor, sh_norm: Tensor, level_oh: Tensor,
                    exact: bool) -> tuple[Tensor, Tensor]:  # fmt: skip
        """(mu, sigma) [r, w_c] in normalised SH units for chunk ``c`` of sensitive ``rows``:
        mu = synthesis prediction + a learned correction."""
        a, b = SENS_CHUNKS[c]
        x = torch.cat([posemb[rows], synth[rows], level_oh[rows], sh_norm[rows, :a]], 1)
        out = self.sens_heads[c](x, exact)
        return synth[rows, a:b] + out[:, : b - a], sigma_from(out[:, b - a :], exact)


class FeedForwardModel(nn.Module):
    """Everything the codec evaluates; ``coding_copy()`` is what encode and decode use."""

    def __init__(self, arch: Arch | None = None):
        super().__init__()
        self.arch = arch or Arch()
        if self.arch.dim % self.arch.heads:
            raise ValueError("dim must be a multiple of heads")
        self.pos = PosEmbed(self.arch)
        self.geometry = GeometryModel(self.arch)
        self.colour = ColourModel(self.arch)

    def coding_copy(self) -> "FeedForwardModel":
        """A float64 copy on the weight grid (exact.round_to_grid), in eval mode, no gradients."""
        m = copy.deepcopy(self).cpu().float()
        E.round_to_grid(m)
        m = m.double().eval()
        for p in m.parameters():
            p.requires_grad_(False)
        m.is_coding_copy = True
        return m
