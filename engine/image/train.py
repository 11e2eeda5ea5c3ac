"""Compress an image into a ``.sgi`` file: the SmartSplat fit plus a real codec (a job).

Per tile (``engine.image.tiles``), in coding order:

1. Budget: the tile's share of the file's bits (what earlier tiles left unspent or overspent is
   carried over) gives a Gaussian count through a model of the coded size per Gaussian
   (:func:`bits_estimate`; SmartSplat's fixed 56 bits per Gaussian is replaced by what the entropy
   coder actually spends).
2. Initialisation A/B/C (SmartSplat's three samplings; ``engine.image.init``) over the tile's window, weighted by its
   blend weight ω.
3. Training (SmartSplat's recipe): Adam (eps 1e-15), loss 0.8·L1 + 0.2·(1 − SSIM) on B + ω·R + F·I: the
   tile's render R under its blend weight ω, the decoded earlier tiles B and the image I standing
   in for the later tiles' share F (``engine.image.tiles``). The loss sees the sum *before* the
   decoder's clamp to [0, 1]: through a clamp, a bright region whose Gaussians overshoot 1 gets
   no gradient and stays blown out (measured: README, Benchmarks, "Design measurements"). SmartSplat runs 50 000 steps at
   constant rates; short runs here use larger rates with a cosine decay (``TrainConfig``).
4. Quantisation-aware fine-tuning (GaussianImage's, arXiv 2403.08551): the last ``qat_fraction`` of the steps render
   the quantised Gaussians (straight-through estimators; ``engine.image.quantize``). Before it,
   and again on the quantised geometry before every encoding, the colours are replaced by the
   least-squares colours of the geometry (``engine.image.refit``; the image is linear in them).
   Quantising the shapes costs more PSNR than the L1 + SSIM fine-tuning wins back; the solve
   recovers it (README, Benchmarks, "Design measurements").
5. Encoding, then rate control: while the tile's bytes exceed its budget, the Gaussians with the
   least energy (|c|·s₁s₂) are dropped, the rest fine-tuned briefly (colours re-solved), and the
   tile re-encoded. The count of step 1 aims 6 % over the budget: the size model overestimates
   many photos (README, Benchmarks, "Design measurements"), and a surplus trimmed by rate control costs less than a budget left
   unspent.
6. The tile is decoded from its own bytes and added to the canvas, the background of the tiles
   that follow; the file's reconstruction is exactly what the decoder will produce.

The job yields ``engine.jobs.Progress`` and honours a ``CancelToken``; the file is written
atomically at the end (a cancelled job leaves nothing).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from engine.device import IMAGE, resolve_device
from engine.errors import InputError
from engine.image import codec
from engine.image.gaussians import MAX_LOG_SCALE, MIN_LOG_SCALE, Gaussians2D, conic, parse_rate
from engine.image.init import initialize
from engine.image.loss import TargetLoss
from engine.image.quantize import QuantSpec, Quantizer, dequantize
from engine.image.rasterize import rasterize
from engine.image.refit import least_squares_colors
from engine.image.tiles import DEFAULT_MARGIN, DEFAULT_TILE, complexity_weights, layout
from engine.io.atomic import atomic_write_bytes, read_bytes
from engine.jobs import CancelToken, Progress
from engine.metrics import SSIM_WEIGHT, psnr_from_mse

@dataclass
class TrainConfig:
    """Settings of one compression run. ``iterations`` counts every step of a tile (float
    training plus quantisation-aware fine-tuning)."""

    bpp: float
    iterations: int | None = None  # None: engine.device.IMAGE's default for the device
    qat_fraction: float = 0.25
    ssim_weight: float = SSIM_WEIGHT  # SmartSplat: 0.8 L1 + 0.2 (1 - SSIM) (engine.metrics.photometric_loss)
    # SmartSplat trains 50k steps at constant rates: position 1e-4 in [-1, 1] units, scale 5e-2 px,
    # rotation 1e-3 on a sigmoid logit, colour 5e-3. These short runs start higher and decay
    # (the rates below against 3x smaller ones: README, Benchmarks, "Design measurements").
    lr_xy: float = 0.15  # px per step
    lr_scale: float = 0.06  # log-scale per step
    lr_theta: float = 0.06  # rad per step
    lr_color: float = 0.03  # per step
    lr_final: float = 0.1  # the cosine decay ends at this fraction of the rates
    qat_lr: float = 0.3  # fine-tuning rates, as a fraction of the starting rates (cosine decay again)
    refit_iterations: int = 24  # CG steps of the least-squares colour solve (item 4 below; 0: off)
    tile_size: int = DEFAULT_TILE
    margin: int = DEFAULT_MARGIN
    spec: QuantSpec = field(default_factory=QuantSpec)
    seed: int = 0
    device: str = "auto"
    preview_s: float = 0.0  # yield a preview image at most this often (0: never)

    def resolved(self) -> "TrainConfig":
        device = resolve_device(self.device).type
        iters = self.iterations if self.iterations is not None else IMAGE.iterations(device)
        if not 1 <= iters <= 10_000_000:
            raise InputError(None, f"--iterations {iters} is out of range (1 to 10,000,000)")
        if not 64 <= self.tile_size <= codec.MAX_SIDE or not 0 <= self.margin <= min(256, self.tile_size // 2):
            raise InputError(None, f"tile size {self.tile_size} / margin {self.margin} out of range")
        parse_rate(bpp=self.bpp)
        return replace(self, device=device, iterations=iters)


@dataclass
class CompressResult:
    path: str | None
    data: bytes  # the whole .sgi file
    width: int
    height: int
    image: np.ndarray  # decoded [H, W, 3] uint8 (what decompress produces)
    count: int  # Gaussians in the file
    seconds: float
    psnr: float
    ms_ssim: float | None  # None for images of 160 px or less on a side
    target_bpp: float
    iterations: int
    tiles: int

    @property
    def bytes(self) -> int:
        return len(self.data)

    @property
    def bpp(self) -> float:
        return len(self.data) * 8 / (self.width * self.height)

    def summary(self) -> dict:
        return {"output": self.path, "bytes": self.bytes, "bpp": self.bpp, "target_bpp": self.target_bpp,
                "psnr": self.psnr, "ms_ssim": self.ms_ssim, "count": self.count, "tiles": self.tiles,
                "width": self.width, "height": self.height, "iterations": self.iterations,
                "seconds": self.seconds}  # fmt: skip


# ---------------------------------------------------------------------------- rate model
SHAPE_BITS = 16.5  # measured on Kodak (kodim01, 0.2 bpp): q1, q1 - q2 and the angle, entropy-coded
COLOR_EFFICIENCY = 0.92  # VQ colours: entropy-coded indices, as a fraction of log2(codes) per stage
YCOCG_BITS_AT_6 = 13.8  # YCoCg colours at a 1/64 step: exp-Golomb bits per Gaussian (kodim23, 0.2 bpp)
POSITION_OVERHEAD = 0.3  # exp-Golomb over the entropy of sorted uniform keys, bits


def bits_estimate(count: int, area: float, spec: QuantSpec) -> float:
    """Model of a tile's coded size in bits: positions cost about log₂(e·A·4^p/N) each (an
    unordered set of N points on A·4^p grid cells, sorted and delta-coded), shapes SHAPE_BITS,
    colours YCOCG_BITS_AT_6 (+3 per extra bit of precision) or a fraction of log₂ K per VQ stage;
    plus the side information (quantiser values, codebooks, the fitted models' 5-bit codes)."""
    if count <= 0:
        return 8.0
    cells = area * 4.0**spec.pos_frac_bits
    pos = math.log2(math.e * cells / count) + POSITION_OVERHEAD if cells > count else 1.0
    if spec.vq:
        k = spec.codes
        color = COLOR_EFFICIENCY * spec.stages * math.log2(k)
        models = 8 * (3 + spec.stages) * 2 + 5 * (24 + 64 * 3 + spec.stages * k)
        side = 8 * (2 + 8 + 4 * spec.stages + 3 * spec.stages * k + 2) + models
    else:
        color = YCOCG_BITS_AT_6 + 3 * (spec.color_bits - 6)
        models = 8 * (4 + 3) * 2 + 5 * (4 * 24 + 64 * 3)
        side = 8 * (2 + 8 + 6 + 2) + models
    return count * (pos + SHAPE_BITS + color) + side


def count_for_bits(bits: float, area: float, spec: QuantSpec) -> int:
    """Largest N whose estimated size fits ``bits`` (bisection on the monotone estimate)."""
    lo, hi = 0, max(1, int(area * 4.0**spec.pos_frac_bits) // 2)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if bits_estimate(mid, area, spec) <= bits:
            lo = mid
        else:
            hi = mid - 1
    return lo


# ---------------------------------------------------------------------------- one tile
class _Params:
    """Leaf tensors of a tile's Gaussians and their Adam optimiser."""

    def __init__(self, g: Gaussians2D, cfg: TrainConfig, device):
        self.xy = g.xy.to(device).clone().requires_grad_()
        self.log_scale = g.log_scale.to(device).clone().requires_grad_()
        self.theta = g.theta.to(device).clone().requires_grad_()
        self.color = g.color.to(device).clone().requires_grad_()
        self.base = [cfg.lr_xy, cfg.lr_scale, cfg.lr_theta, cfg.lr_color]
        self.opt = torch.optim.Adam([{"params": [t], "lr": lr} for t, lr in zip(self.tensors(), self.base)], eps=1e-15)

    def tensors(self) -> list[torch.Tensor]:
        return [self.xy, self.log_scale, self.theta, self.color]

    def gaussians(self) -> Gaussians2D:
        return Gaussians2D(self.xy, self.log_scale, self.theta, self.color)

    def set_lr(self, factor: float) -> None:
        for group, lr in zip(self.opt.param_groups, self.base):
            group["lr"] = lr * factor

    @torch.no_grad()
    def clamp(self, width: int, height: int) -> None:
        self.xy[:, 0].clamp_(0.0, width - 1e-3)
        self.xy[:, 1].clamp_(0.0, height - 1e-3)
        self.log_scale.clamp_(MIN_LOG_SCALE, MAX_LOG_SCALE)

    def keep(self, index: torch.Tensor, cfg: TrainConfig, device) -> "_Params":
        g = Gaussians2D(*(t.detach()[index] for t in self.tensors()))
        return _Params(g, cfg, device)


def _psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """The step's PSNR, cheaply on the device (engine.metrics' convention: inf when identical)."""
    return psnr_from_mse(float(torch.mean((pred.detach() - target) ** 2)))


def _cosine(i: int, n: int, final: float) -> float:
    """Learning-rate factor at step i of n: 1 falling to ``final`` along a half cosine."""
    t = i / max(n - 1, 1)
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t))


class _TileFit:
    """Training, QAT, encoding and rate control of one tile (a sub-job of :func:`compress_job`)."""

    def __init__(self, tile, target, background, future, budget_bits: float, cfg: TrainConfig, spec: QuantSpec):
        self.tile, self.cfg, self.spec = tile, cfg, spec
        self.device = torch.device(cfg.device)
        self.target = target.to(self.device)  # [h, w, 3] float in [0, 1]
        self.background = background.to(self.device)  # [h, w, 3] earlier tiles, decoded and weighted
        self.weight = tile.weight().to(self.device) if tile.blended else None  # [h, w, 1] ω_t (engine.image.tiles)
        # later tiles' share F_t of the window, stood in for by the image itself: [h, w, 3]
        self.fill = future.to(self.device) * self.target
        self.budget_bits = budget_bits
        self.w, self.h = tile.width, tile.height
        core = tile.core_mask()
        self.area = float(core.sum())
        self.count = max(1, count_for_bits(budget_bits * 1.06, self.area, spec))  # pruning trims the rest
        self.core = core
        self.loss = TargetLoss(self.target, cfg.ssim_weight)

    def _render(self, g: Gaussians2D) -> torch.Tensor:
        img = rasterize(g.xy, conic(g.log_scale, g.theta), g.color, self.w, self.h)
        if self.weight is not None:
            img = self.weight * img
        return self.background + img + self.fill  # not clamped: see item 3 above

    def _step(self, p: _Params, quant: Quantizer | None):
        g = p.gaussians()
        if quant is not None:
            g = quant.apply(g)
        pred = self._render(g)
        loss = self.loss(pred)
        p.opt.zero_grad(set_to_none=True)
        if quant is not None:
            quant.opt.zero_grad(set_to_none=True)
        loss.backward()
        p.opt.step()
        if quant is not None:
            quant.opt.step()
            quant.update(p.gaussians())
        p.clamp(self.w, self.h)
        # the graph (and the rasterizer's saved spans) goes now; the caller sees what the decoder shows
        return float(loss.detach()), pred.detach().clamp_(0.0, 1.0)

    @torch.no_grad()
    def _refit_colors(self, p: _Params, quant: Quantizer | None) -> None:
        """Replace the colours by the least-squares colours of the current geometry (quantised
        when ``quant`` is given), against what the tile must explain (``engine.image.refit``)."""
        if not self.cfg.refit_iterations or p.xy.shape[0] == 0:
            return
        g = p.gaussians().detach()
        if quant is not None:
            g = quant.apply(g)
        residual = self.target - self.background - self.fill  # [h, w, 3]
        colors = least_squares_colors(g.xy, conic(g.log_scale, g.theta), p.color.detach(), residual, self.weight,
                                      self.cfg.refit_iterations)  # fmt: skip
        p.color.copy_(colors)

    def run(self, cancel: CancelToken, report):
        """A job: yields ``report(steps done, metrics, prediction or None)`` (the caller's Progress)
        after every step and rate-control round; returns (bytes, decoded Gaussians)."""
        cfg = self.cfg
        total = cfg.iterations
        n_qat = min(total, max(1, round(total * cfg.qat_fraction))) if total > 1 else 0
        n_float = total - n_qat
        region = None if self.weight is None else self.weight[..., 0].cpu()  # start where the tile has weight
        g0 = initialize(self.target.cpu(), self.count, seed=cfg.seed + self.tile.index, region=region)
        p = _Params(g0, cfg, self.device)
        metrics = {}
        for i in range(n_float):
            cancel.check()
            p.set_lr(_cosine(i, n_float, cfg.lr_final))
            loss, pred = self._step(p, None)
            metrics = {"loss": loss, "psnr": _psnr(pred, self.target), "count": p.xy.shape[0]}
            yield report(1, metrics, pred)
        self._refit_colors(p, None)
        # quantisation-aware fine-tuning (canonical shapes first: one grid for both scales)
        with torch.no_grad():
            canon = p.gaussians().detach().canonical()
        p = _Params(canon, cfg, self.device)
        quant = Quantizer(canon, self.spec, (self.w, self.h), seed=cfg.seed + self.tile.index, device=self.device)
        for i in range(n_qat):
            cancel.check()
            p.set_lr(cfg.qat_lr * _cosine(i, n_qat, cfg.lr_final))
            loss, pred = self._step(p, quant)
            metrics = {"loss": loss, "psnr": _psnr(pred, self.target), "count": p.xy.shape[0]}
            yield report(1, metrics, pred)
        # encode; while over budget: prune the least energetic Gaussians, fine-tune, re-encode
        fine = max(2, n_qat // 4)
        for attempt in itertools.count():
            cancel.check()
            self._refit_colors(p, quant)
            n = p.xy.shape[0]
            sym, side = quant.finalize(p.gaussians().detach()) if n else (codec.empty_symbols(self.spec), None)
            data = codec.encode_tile(sym, side, self.spec, self.tile)
            bits = 8 * len(data)
            if bits <= self.budget_bits or n == 0:  # an empty tile (1 byte) always fits
                break
            per = bits / n
            drop = min(n, math.ceil((bits - self.budget_bits) / per * 1.02) + 1 + attempt)
            with torch.no_grad():
                energy = p.color.detach().norm(dim=-1) * torch.exp(p.log_scale.detach().sum(-1))
            keep = torch.sort(torch.argsort(energy, descending=True)[: n - drop]).values
            p = p.keep(keep, cfg, self.device)
            p.set_lr(cfg.qat_lr * cfg.lr_final)
            steps = fine if attempt < 4 and n > drop else 0
            for _ in range(steps):
                cancel.check()
                loss, pred = self._step(p, quant)
            metrics = {"loss": metrics.get("loss", 0.0), "count": p.xy.shape[0], "pruned": drop}
            yield report(0, metrics, None)
        # the decoder's view of this tile, from its own bytes
        dsym, dside = codec.decode_tile(data, self.spec, self.tile)
        g_dec = dequantize(dsym, dside, self.spec)
        return data, g_dec


# ---------------------------------------------------------------------------- the whole image
def _as_tensor(image: np.ndarray, source: str | None = None) -> torch.Tensor:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(source, f"expected an RGB image [H, W, 3] uint8, got {image.dtype} {image.shape}")
    return torch.from_numpy(image).float() / 255.0


def _preview(canvas: torch.Tensor, max_side: int = 1024) -> np.ndarray:
    h, w = canvas.shape[:2]
    img = canvas.clamp(0, 1)
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        img = F.interpolate(img.permute(2, 0, 1)[None], size=(max(1, round(h * s)), max(1, round(w * s))),
                            mode="area")[0].permute(1, 2, 0)  # fmt: skip
    return (img * 255 + 0.5).floor().to(torch.uint8).cpu().numpy()


def compress_job(image: np.ndarray, cfg: TrainConfig, output: str | None = None, cancel: CancelToken | None = None,
                 source: str | None = None):  # fmt: skip
    """Job: compress ``image`` [H, W, 3] uint8 at ``cfg.bpp``; writes ``output`` (.sgi) atomically
    when given. ``source`` (the image's file) is named in errors. Yields Progress; returns
    :class:`CompressResult`."""
    from engine.metrics import ms_ssim, psnr

    cancel = cancel or CancelToken()
    cfg = cfg.resolved()
    torch.manual_seed(cfg.seed)
    t_start = time.perf_counter()
    h, w = image.shape[:2]
    if w > codec.MAX_SIDE or h > codec.MAX_SIDE:
        raise InputError(source, f"the image is {w}x{h}; the .sgi format holds at most {codec.MAX_SIDE} px a side")
    target = _as_tensor(image, source)
    tiles = layout(w, h, cfg.tile_size, cfg.margin)
    spec = cfg.spec
    header = codec.Header(w, h, cfg.tile_size, cfg.margin, spec)
    total_bits = cfg.bpp * w * h - 8 * codec.container_overhead(len(tiles), header)
    if total_bits < 8 * 64 * len(tiles):
        raise InputError(source, f"target {cfg.bpp:g} bpp leaves {max(total_bits, 0) / 8:.0f} bytes for {len(tiles)} "
                               f"tile(s) of a {w}x{h} image: too few to code it")  # fmt: skip
    weights = complexity_weights(target, tiles)
    device = torch.device(cfg.device)
    canvas = torch.zeros(h, w, 3, device=device)
    weights_done = torch.zeros(h, w, 1, device=device)  # Σ ω_s of the tiles coded so far
    payloads: list[bytes] = []
    steps_total = cfg.iterations * len(tiles)
    step, spent, last_preview = 0, 0.0, -1e9
    count = 0
    for k, tile in enumerate(tiles):
        remaining_weight = sum(weights[k:])
        budget = (total_bits - spent) * weights[k] / remaining_weight
        tile.window(weights_done).add_(tile.weight().to(device))
        future = (1.0 - tile.window(weights_done)).clamp_min(0.0)  # F_t: what later tiles will add
        fit = _TileFit(tile, tile.window(target), tile.window(canvas).clone(), future, budget, cfg, spec)
        msg = f"tile {k + 1}/{len(tiles)}" if len(tiles) > 1 else "training"

        def report(done: int, metrics: dict, pred, tile=tile, msg=msg) -> Progress:
            nonlocal step, last_preview
            step += done
            preview = None
            now = time.perf_counter()
            if cfg.preview_s > 0 and pred is not None and now - last_preview >= cfg.preview_s:
                last_preview = now
                snap = canvas.clone()
                tile.window(snap).copy_(pred.detach())
                preview = _preview(snap)
            return Progress(step, steps_total, msg, metrics, preview)

        data, g_dec = yield from fit.run(cancel, report)
        codec.add_tile(canvas, tile, g_dec)
        payloads.append(data)
        spent += 8 * len(data)
        count += g_dec.count
        yield Progress(step, steps_total, msg, {"count": count, "kB": sum(map(len, payloads)) / 1000}, None)
    cancel.check()
    data = codec.pack(header, payloads)
    decoded = codec.to_uint8(canvas)
    seconds = time.perf_counter() - t_start
    score = psnr(decoded, image)
    msim = ms_ssim(decoded, image) if min(h, w) > 160 and h * w <= 40_000_000 else None
    if output is not None:
        cancel.check()
        atomic_write_bytes(output, data)
    result = CompressResult(output, data, w, h, decoded, count, seconds, score, msim, cfg.bpp, cfg.iterations, len(tiles))
    yield Progress(steps_total, steps_total, "done", {"psnr": score, "bpp": result.bpp}, _preview(canvas))
    return result


def decompress_job(path: str, output: str | None = None, device: str = "cpu", cancel: CancelToken | None = None):
    """Job: decode a .sgi file (one Progress per tile); writes ``output`` (PNG) atomically when
    given; returns the image [H, W, 3] uint8."""
    from engine.image.imageio import save_png

    cancel = cancel or CancelToken()
    device = resolve_device(device).type
    header, payloads = codec.unpack(read_bytes(path), path)
    tiles = header.tiles()
    canvas = torch.zeros(header.height, header.width, 3, device=device)
    for i, (tile, payload) in enumerate(zip(tiles, payloads)):
        cancel.check()
        g = dequantize(*codec.decode_tile(payload, header.spec, tile, path), header.spec)
        codec.add_tile(canvas, tile, g)
        yield Progress(i + 1, len(tiles), "decoding", {})
    image = codec.to_uint8(canvas)
    if output is not None:
        cancel.check()
        save_png(output, image)
    return image
