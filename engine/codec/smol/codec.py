"""The Smol-GS bitstream (codec id "smol" in the .smol container; arXiv 2512.00850).

Sections:
    occ     positions: occupancy bytes of the 16-level octree (one model per depth); splats are
            stored in Morton order, one per leaf
    nets    every network (MLP_oct, the four heads, the context MLP_h), in state_dict order:
            one float16 step per tensor, then every weight as an integer in [-127, 127] times
            its tensor's step, ANS-coded with a fitted histogram (8-bit weights: about half
            the size of float16; their PSNR cost is in the README's Smol-GS benchmark)
    coded   the 8 feature values and 3 log scale bounds per splat: integers round(v / Delta),
            ANS-coded with constriction's QuantizedGaussian under per-symbol (mu, sigma, Delta)
            from the context model (entropy_model.py), which the decoder recomputes from the
            positions and the stored networks

Decoding rebuilds exactly the scene that was encoded; encoding a decoded scene again gives the
same bytes (the networks are already on their 8-bit grids, the values on their Delta grids).
"""

from __future__ import annotations

import constriction
import numpy as np
import torch

from engine.codec import container, entropy, octree
from engine.codec.smol.entropy_model import ContextModel, snapped_params
from engine.codec.smol.model import CODE_BITS, FEATURE_DIM, SmolArch, SmolDecoder, code_bits
from engine.codec.smol.representation import SmolScene
from engine.errors import InputError
from engine.scene import GaussianScene

CODEC_ID = "smol"
CODEC_VERSION = 2  # 1: float16 networks (no longer written or read)
SYMBOL_LIMIT = 1 << 15
WEIGHT_LEVELS = 127  # network weights are integers in [-127, 127] times a per-tensor step


def _weight_step(t: torch.Tensor) -> np.float16:
    """The smallest float16 step that puts every value of ``t`` within +-WEIGHT_LEVELS steps. With
    it the largest weight lands exactly on +-127, so quantising the dequantised tensor again gives
    the same step and integers (bit-exact re-encoding)."""
    m = float(t.detach().abs().max()) / WEIGHT_LEVELS if t.numel() else 0.0
    step = np.float16(m)
    if float(step) < m:
        step = np.nextafter(step, np.float16(np.inf))
    return step


def _quantise(t: torch.Tensor) -> tuple[np.float16, np.ndarray]:
    step = _weight_step(t)
    if float(step) == 0.0:
        return step, np.zeros(t.numel(), np.int64)
    q = np.rint(t.detach().cpu().double().numpy().ravel() / float(step)).astype(np.int64)
    return step, np.clip(q, -WEIGHT_LEVELS, WEIGHT_LEVELS)


def _tensors(decoder: SmolDecoder, context: ContextModel) -> list[torch.Tensor]:
    return list(decoder.state_dict().values()) + list(context.state_dict().values())


def _nets_bytes(decoder: SmolDecoder, context: ContextModel) -> bytes:
    steps, ints = zip(*(_quantise(t) for t in _tensors(decoder, context)))
    return np.asarray(steps, np.float16).tobytes() + entropy.encode(np.concatenate(ints))


def _load_nets(data: bytes, arch: SmolArch, path: str | None) -> tuple[SmolDecoder, ContextModel]:
    decoder, context = SmolDecoder(arch), ContextModel(arch.ctx_hidden)
    tensors = _tensors(decoder, context)
    head = 2 * len(tensors)
    if len(data) < head:
        raise InputError(path, "the network section is too short for the stored architecture")
    steps = np.frombuffer(data[:head], np.float16).astype(np.float32)
    if not np.isfinite(steps).all() or (steps < 0).any():
        raise InputError(path, "corrupt network section (steps)")
    ints = entropy.decode(data[head:], None, sum(t.numel() for t in tensors), path)
    if np.abs(ints).max(initial=0) > WEIGHT_LEVELS:
        raise InputError(path, "corrupt network section (weights out of range)")
    pos, k = 0, 0
    for module in (decoder, context):
        sd = module.state_dict()
        for name, t in sd.items():
            q = ints[pos : pos + t.numel()]
            sd[name] = (torch.from_numpy(q.astype(np.float32)) * float(steps[k])).reshape(t.shape)
            pos, k = pos + t.numel(), k + 1
        module.load_state_dict(sd)
    return decoder.eval(), context.eval()


def _round_to_grid(module: torch.nn.Module) -> None:
    """Put every parameter on the 8-bit grid the file stores (what the decoder will use)."""
    with torch.no_grad():
        for t in module.state_dict().values():  # shares storage with the module
            step, q = _quantise(t)
            t.copy_((torch.from_numpy(q.astype(np.float32)) * float(step)).reshape(t.shape))


@torch.no_grad()
def _context64(means: torch.Tensor, lo: torch.Tensor, side: float, decoder: SmolDecoder, context: ContextModel):
    """(mu, sigma, delta) [N, 11] float64 from positions, as the decoder computes them."""
    bits = code_bits(means, lo, side).double()
    x = bits
    for layer in decoder.mlp_oct:
        x = x @ layer.weight.double().T + layer.bias.double() if isinstance(layer, torch.nn.Linear) else torch.relu(x)
    return snapped_params(context, x)


@torch.no_grad()
def encode_scene(smol: SmolScene, context: ContextModel) -> bytes:
    """The .smol bytes of a trained (or decoded) Smol-GS scene."""
    decoder = SmolDecoder(smol.decoder.arch)
    decoder.load_state_dict(smol.decoder.state_dict())
    ctx = ContextModel(context.net[0].out_features)
    ctx.load_state_dict(context.state_dict())
    _round_to_grid(decoder)
    _round_to_grid(ctx)
    lo = smol.lo.detach().cpu().float()
    side = float(np.float32(smol.side))
    means = smol.means.detach().cpu().float()
    n = len(means)
    cells = torch.clamp(torch.floor((means.double() - lo.double()) / side * (1 << CODE_BITS)), 0, (1 << CODE_BITS) - 1).long().numpy()
    codes = octree.morton_encode(cells)
    order = np.argsort(codes, kind="stable")
    occ, leaves, counts = octree.build(codes[order], CODE_BITS)
    if (counts > 1).any():
        raise InputError(None, "two splats share an octree leaf; the Smol-GS coordinate stage keeps one per leaf")
    centres = lo.double() + (torch.from_numpy(octree.morton_decode(leaves)).double() + 0.5) * (side / (1 << CODE_BITS))
    centres = centres.float()
    mu, sigma, delta = _context64(centres, lo, side, decoder, ctx)  # [N, 11] each, Morton order
    values = torch.cat([smol.features.detach().cpu(), smol.log_scale_bounds.detach().cpu()], 1)[torch.from_numpy(order)].double()
    symbols = torch.round(values / delta)
    if symbols.abs().max() >= SYMBOL_LIMIT:
        raise InputError(None, "a feature is too large for its quantisation step")
    coder = constriction.stream.stack.AnsCoder()
    model = constriction.stream.model.QuantizedGaussian(-SYMBOL_LIMIT, SYMBOL_LIMIT)
    sym = symbols.numpy().astype(np.int32).ravel()
    coder.encode_reverse(sym, model, (mu / delta).numpy().ravel(), np.maximum((sigma / delta).numpy().ravel(), 1e-3))
    sections = {
        "occ": octree.encode_occupancy(occ, CODE_BITS),
        "nets": _nets_bytes(decoder, ctx),
        "coded": np.asarray(coder.get_compressed(), np.uint32).tobytes(),
    }
    meta = {
        "codec_version": CODEC_VERSION,
        "count": n,
        "arch": decoder.arch.to_dict(),
        "lo": [float(v) for v in lo],
        "side": side,
        "extent": float(np.float32(smol.extent)),
        "occupancy_per_depth": [int(len(o)) for o in occ],
    }
    return container.pack(CODEC_ID, 0, meta, sections)


@torch.no_grad()
def decode_smol(c: container.Container, path: str | None = None) -> tuple[SmolScene, ContextModel]:
    meta = c.meta
    try:
        n = int(meta["count"])
        arch = SmolArch(**{k: int(v) for k, v in meta["arch"].items()})
        lo = torch.tensor([float(v) for v in meta["lo"]], dtype=torch.float32)
        side, extent = float(meta["side"]), float(meta["extent"])
        per_depth = [int(v) for v in meta["occupancy_per_depth"]]
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(path, f"corrupt Smol-GS metadata ({e})") from None
    if meta.get("codec_version") != CODEC_VERSION:
        raise InputError(path, f"unsupported Smol-GS codec version {meta.get('codec_version')}")
    if len(per_depth) != CODE_BITS or not 0 < n < 1 << 28 or len(lo) != 3 or not side > 0:
        raise InputError(path, "corrupt Smol-GS metadata (sizes)")
    decoder, context = _load_nets(c.section("nets", path), arch, path)
    leaves = octree.decode_leaves(c.section("occ", path), per_depth, CODE_BITS, path)
    if len(leaves) != n:
        raise InputError(path, "corrupt octree: wrong number of splats")
    means = (lo.double() + (torch.from_numpy(octree.morton_decode(leaves)).double() + 0.5) * (side / (1 << CODE_BITS))).float()
    mu, sigma, delta = _context64(means, lo, side, decoder, context)
    coded = c.section("coded", path)
    if len(coded) % 4:
        raise InputError(path, "corrupt feature stream")
    try:
        coder = constriction.stream.stack.AnsCoder(np.frombuffer(coded, np.uint32).copy())
        model = constriction.stream.model.QuantizedGaussian(-SYMBOL_LIMIT, SYMBOL_LIMIT)
        sym = coder.decode(model, (mu / delta).numpy().ravel(), np.maximum((sigma / delta).numpy().ravel(), 1e-3))
    except Exception as e:  # constriction reports invalid data its own way
        raise InputError(path, f"corrupt feature stream ({e})") from None
    values = (torch.from_numpy(np.asarray(sym, np.float64)).reshape(n, -1) * delta).float()
    smol = SmolScene(means, values[:, :FEATURE_DIM].contiguous(), values[:, FEATURE_DIM:].contiguous(), decoder, lo, side, extent)
    return smol, context


class SmolBundle:
    """What a GaussianScene's ``neural`` holds for Smol-GS: the exact scene and its context model."""

    def __init__(self, scene: SmolScene, context: ContextModel):
        self.scene, self.context = scene, context

    @property
    def count(self) -> int:
        return self.scene.count

    def render(self, cameras, width, height, background=(0.0, 0.0, 0.0), with_depth=False):
        return self.scene.render(cameras, width, height, background, with_depth)


def decode(c: container.Container, path: str | None = None) -> GaussianScene:
    smol, context = decode_smol(c, path)
    baked = smol.to_gaussians()
    baked.neural = SmolBundle(smol, context)
    baked.meta.update({"codec": CODEC_ID, "level": c.level})
    return baked


def encode(scene: GaussianScene, level: int = 0, **_) -> bytes:
    """Re-encode a decoded Smol-GS scene. A plain scene cannot be: Smol-GS is trained from a
    capture (``splatlab compress SCENE --codec smol --capture DIR``)."""
    if not isinstance(scene.neural, SmolBundle):
        raise InputError(None, "the smol codec trains from a capture: use `splatlab compress SCENE --codec smol --capture DIR`")
    return encode_scene(scene.neural.scene, scene.neural.context)

