"""The real coder of one window: integers through constriction, probabilities from the networks.

One window is one ANS stream (constriction.stream.stack.AnsCoder; no hand-written coder), so a
window decodes alone and windows could be coded in parallel. Decoding order inside a window (the
space-channel order of arXiv 2512.00877 §3.4):

1. the division choice per Gaussian (sensitive or not): a fitted binary model, the count of
   sensitive Gaussians in the payload header (u32) and the bits under Categorical(n - s, s);
2. geometry: for each spatial group g = 0..3, for each chunk [opacity], [log scales], [rotation]:
   integers round(v / step) under QuantizedGaussian(mu / step, sigma / step) from GeometryModel;
3. the latent y_hat of the non-sensitive Gaussians: groups x latent chunks, LatentModel heads;
4. synthesis of every Gaussian's SH from y_hat (attention over the window), rounded to 1/4096;
5. the sensitive Gaussians' SH: chunks [DC], [higher bands], round(sh_norm / step) under
   QuantizedGaussian around the synthesis prediction.

Encoder and decoder run the *same* function (:func:`_run`) over the same partially decoded
arrays; only the object that turns (mu, sigma) into symbols differs (:class:`_Recorder` returns
the encoder's symbols, :class:`_Reader` decodes them), so the masks and inputs are identical by
construction. Every network runs in exact mode (exact.py) on the model's float64 coding copy,
and mu / sigma are snapped (mu to 1/1024 step), so the probabilities are bit-identical in any
process, with any thread count.

Payload of a window: u32 number of sensitive Gaussians, then the ANS words (u32, little-endian).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import constriction
import numpy as np
import torch
from scipy.special import ndtr
from torch import Tensor

from engine.codec.feedforward import exact as E
from engine.codec.feedforward import serialise
from engine.codec.feedforward.models import (COLOUR_SCALE, GEOM, GEOM_CHUNKS, GEOM_OFFSET, GEOM_SCALE, MIN_SIGMA_STEPS,
                                             SENS_CHUNKS, SH_CHANNELS, FeedForwardModel, level_onehot, vec)  # fmt: skip
from engine.errors import InputError
from engine.scene import GaussianScene

SYMBOL_LIMIT = 1 << 15
SH_FRAC = 12  # decoded lossy SH on a 1/4096 grid
_U32 = struct.Struct("<I")


# ---------------------------------------------------------------------------- attribute tables
def geometry_table(scene: GaussianScene) -> np.ndarray:
    """[N, 8] float64: opacity logit, log scales, unit quaternion with w >= 0 (sign-normalised)."""
    q = scene.quats.detach().cpu().double()
    q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-30)
    q = torch.where(q[:, :1] < 0, -q, q)
    t = torch.cat([scene.opacity_logits.detach().cpu().double()[:, None], scene.log_scales.detach().cpu().double(), q], 1)
    return t.numpy()


def sh_table(scene: GaussianScene) -> tuple[np.ndarray, int]:
    """([N, 48] float64 SH, coefficient-major with RGB inner, zero-padded above the scene's degree;
    the number of present channels 3 (d + 1)^2)."""
    n = scene.count
    flat = scene.sh.detach().cpu().double().reshape(n, -1).numpy()
    out = np.zeros((n, SH_CHANNELS))
    k = min(flat.shape[1], SH_CHANNELS)
    out[:, :k] = flat[:, :k]
    return out, k


# ---------------------------------------------------------------------------- window context
@dataclass
class WindowContext:
    """What both sides know about a window before its stream: structure and positional embedding."""

    n: int
    nbr: Tensor  # [n, K] long
    valid: Tensor  # [n, K] bool
    group: Tensor  # [n] long
    earlier: Tensor  # [n, K] bool: valid and the neighbour's group comes before this one's
    group_oh: Tensor  # [n, GROUPS]
    level_oh: Tensor  # [n, LEVELS]
    posemb: Tensor  # [n, dim]


def window_context(model: FeedForwardModel, cells: np.ndarray, level: int, exact: bool = True) -> WindowContext:
    """cells [n, 3] int (one window, serial order)."""
    dtype = torch.float64 if exact else torch.float32
    n = len(cells)
    nbr_np, valid_np = serialise.neighbours(n)
    nbr, valid = torch.from_numpy(nbr_np), torch.from_numpy(valid_np)
    group = torch.from_numpy(serialise.groups(n))
    earlier = valid & (group[nbr] < group[:, None])
    like = torch.zeros((), dtype=dtype)
    c = torch.from_numpy(np.asarray(cells, np.float64)).to(dtype)
    posemb = model.pos(c, nbr, valid.to(dtype), exact)
    group_oh = torch.nn.functional.one_hot(group, serialise.GROUPS).to(dtype)
    return WindowContext(n, nbr, valid, group, earlier, group_oh, level_onehot(level, n, like), posemb)


# ---------------------------------------------------------------------------- symbol sources
def _snap_params(mu: Tensor, sigma: Tensor, step: Tensor | float) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) in units of ``step``, flattened float64: mean snapped to 1/1024."""
    m = torch.clamp(torch.round(mu / step * E.SNAP) / E.SNAP, -SYMBOL_LIMIT, SYMBOL_LIMIT)
    s = torch.clamp(sigma / step, MIN_SIGMA_STEPS, float(SYMBOL_LIMIT))
    return m.reshape(-1).numpy(), s.reshape(-1).numpy()


def _gaussian_model():
    return constriction.stream.model.QuantizedGaussian(-SYMBOL_LIMIT, SYMBOL_LIMIT)


def _choice_model(n: int, ones: int):
    return constriction.stream.model.Categorical(np.array([n - ones, ones], np.float64) / n, perfect=False)


class _Recorder:
    """Encoder side: returns the known symbols and records them with their parameters."""

    def __init__(self):
        self.parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
        self.sens: np.ndarray | None = None

    def choices(self, known: np.ndarray) -> np.ndarray:
        self.sens = known
        return known

    def code(self, kind: str, known: Tensor, mu: Tensor, sigma: Tensor, step) -> Tensor:
        m, s = _snap_params(mu, sigma, step)
        self.parts.append((kind, known.reshape(-1).numpy().astype(np.int32), m, s))
        return known

    def payload(self) -> bytes:
        coder = constriction.stream.stack.AnsCoder()
        for _, sym, m, s in reversed(self.parts):  # ANS is a stack: last coded is first decoded
            coder.encode_reverse(sym, _gaussian_model(), m, s)
        n, ones = len(self.sens), int(self.sens.sum())
        if 0 < ones < n:
            coder.encode_reverse(self.sens.astype(np.int32), _choice_model(n, ones))
        return _U32.pack(ones) + np.asarray(coder.get_compressed(), np.uint32).tobytes()

    def estimated_bits(self) -> dict[str, float]:
        """The model's own estimate of the bits per attribute group (for reports)."""
        out: dict[str, float] = {}
        for kind, sym, m, s in self.parts:
            p = ndtr((sym + 0.5 - m) / s) - ndtr((sym - 0.5 - m) / s)
            out[kind] = out.get(kind, 0.0) + float(-np.log2(np.maximum(p, 2.0**-24)).sum())
        n, ones = len(self.sens), int(self.sens.sum())
        if 0 < ones < n:
            f = ones / n
            out["choice"] = float(-n * (f * np.log2(f) + (1 - f) * np.log2(1 - f)))
        return out


class _Reader:
    """Decoder side: decodes the symbols from a window's payload."""

    def __init__(self, payload: bytes, n: int, path: str | None):
        self.path, self.n = path, n
        if len(payload) < _U32.size or (len(payload) - _U32.size) % 4:
            raise InputError(path, "corrupt feed-forward window (payload size)")
        (self.ones,) = _U32.unpack_from(payload, 0)
        words = np.frombuffer(payload[_U32.size :], np.uint32).copy()
        self.coder = constriction.stream.stack.AnsCoder(words) if len(words) else constriction.stream.stack.AnsCoder()

    def choices(self, known) -> np.ndarray:
        n = self.n
        if self.ones > n:
            raise InputError(self.path, "corrupt feed-forward window (choice count)")
        if self.ones in (0, n):
            return np.full(n, bool(self.ones))
        return np.asarray(self._decode(_choice_model(n, self.ones), n), bool)

    def code(self, kind: str, known, mu: Tensor, sigma: Tensor, step) -> Tensor:
        m, s = _snap_params(mu, sigma, step)
        sym = self._decode(_gaussian_model(), m, s)
        return torch.from_numpy(np.asarray(sym, np.int64)).reshape(mu.shape)

    def _decode(self, model, *args):
        try:
            return self.coder.decode(model, *args)
        except Exception as e:  # constriction reports exhausted or invalid data its own way
            raise InputError(self.path, f"corrupt feed-forward window ({e})") from None


# ---------------------------------------------------------------------------- the shared walk
def _run(model: FeedForwardModel, ctx: WindowContext, level: int, n_sh: int, io, src: dict | None = None):
    """Decode (or, with ``src``, encode) one window; returns (geometry [n, 8], sh [n, n_sh]) float64."""
    n, dt = ctx.n, torch.float64
    g_, c_ = model.geometry, model.colour
    known = (lambda name, rows, a, b: src[name][rows, a:b]) if src is not None else (lambda *a: None)  # noqa: E731
    sens = io.choices(src["sens"] if src is not None else None)  # [n] bool
    sens_t = torch.from_numpy(sens)
    # geometry: groups x chunks
    step = g_.steps(level, True)  # [8]
    offset, scale = vec(GEOM_OFFSET, step), vec(GEOM_SCALE, step)
    gval, gnorm = torch.zeros(n, GEOM, dtype=dt), torch.zeros(n, GEOM, dtype=dt)
    avail = ctx.earlier.to(dt)
    for g in range(serialise.GROUPS):
        rows = torch.nonzero(ctx.group == g)[:, 0]
        if len(rows) == 0:
            continue
        for c, (a, b) in enumerate(GEOM_CHUNKS):
            mu, sigma = g_.params(c, rows, ctx.posemb, gnorm, ctx.nbr, avail, ctx.group_oh, ctx.level_oh, True)
            sym = io.code("geometry", known("geom", rows, a, b), mu, sigma, step[a:b])
            gval[rows, a:b] = sym.to(dt) * step[a:b]
            gnorm[rows, a:b] = (gval[rows, a:b] - offset[a:b]) / scale[a:b]
    # latent of the lossy (non-sensitive) Gaussians: groups x latent chunks
    lat_avail = (ctx.earlier & ~sens_t[ctx.nbr]).to(dt)
    y_hat = torch.zeros(n, model.arch.latent, dtype=dt)
    for g in range(serialise.GROUPS):
        rows = torch.nonzero((ctx.group == g) & ~sens_t)[:, 0]
        if len(rows) == 0:
            continue
        for c, (a, b) in enumerate(c_.latent_chunks):
            mu, sigma = c_.latent_params(c, rows, ctx.posemb, y_hat, ctx.nbr, lat_avail, ctx.group_oh, ctx.level_oh, True)
            y_hat[rows, a:b] = io.code("latent", known("y", rows, a, b), mu, sigma, 1.0).to(dt)
    # synthesis, then the sensitive Gaussians' SH around it
    synth = c_.synthesis(y_hat / c_.gain(level, True), sens_t.to(dt), ctx.posemb, True)
    synth = E.snap(synth, True, SH_FRAC)  # [n, 48] normalised
    sh_norm = synth.clone()
    sstep = c_.sens_steps(level, True)
    srows = torch.nonzero(sens_t)[:, 0]
    if len(srows):
        for c, (a, b) in enumerate(SENS_CHUNKS):
            b = min(b, n_sh)
            if a >= b:
                break
            mu, sigma = c_.sens_params(c, srows, ctx.posemb, synth, sh_norm, ctx.level_oh, True)
            w = b - a
            sym = io.code("sensitive", known("s", srows, a, b), mu[:, :w], sigma[:, :w], sstep[a:b])
            sh_norm[srows, a:b] = sym.to(dt) * sstep[a:b]
    sh = sh_norm[:, :n_sh] / vec(COLOUR_SCALE[:n_sh], sh_norm)
    return gval, sh


# ---------------------------------------------------------------------------- entry points
@torch.no_grad()
def encode_window(model: FeedForwardModel, cells: np.ndarray, geom: np.ndarray, sh48: np.ndarray, n_sh: int,
                  level: int) -> tuple[bytes, np.ndarray, np.ndarray, dict]:  # fmt: skip
    """Code one window. model: a coding copy; cells [n, 3]; geom [n, 8]; sh48 [n, 48] (padded).

    Returns (payload, decoded geometry [n, 8], decoded SH [n, n_sh], estimated bits per group);
    the decoded arrays are exactly what :func:`decode_window` will return."""
    ctx = window_context(model, cells, level)
    g = torch.from_numpy(np.ascontiguousarray(geom, np.float64))
    step = model.geometry.steps(level, True)
    sh_norm = torch.from_numpy(np.ascontiguousarray(sh48, np.float64)) * vec(COLOUR_SCALE, step)
    sens = (model.colour.divide(sh_norm, ctx.posemb, ctx.level_oh, True) > 0).numpy()
    y = model.colour.analysis(sh_norm, ctx.posemb, True) * model.colour.gain(level, True)
    sym = lambda v: torch.clamp(torch.round(v), -SYMBOL_LIMIT, SYMBOL_LIMIT).to(torch.int64)  # noqa: E731
    src = {"sens": sens, "geom": sym(g / step), "y": sym(y), "s": sym(sh_norm / model.colour.sens_steps(level, True))}
    rec = _Recorder()
    gval, sh = _run(model, ctx, level, n_sh, rec, src)
    return rec.payload(), gval.numpy(), sh.numpy(), rec.estimated_bits()


@torch.no_grad()
def decode_window(model: FeedForwardModel, payload: bytes, cells: np.ndarray, n_sh: int, level: int,
                  path: str | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Inverse of :func:`encode_window`: (geometry [n, 8], SH [n, n_sh]) float64."""
    ctx = window_context(model, cells, level)
    reader = _Reader(payload, ctx.n, path)
    gval, sh = _run(model, ctx, level, n_sh, reader)
    return gval.numpy(), sh.numpy()
