"""The Smol-GS bitstream (codec id "smol" in the .smol container; ALGORITHMS.md §1.2-1.3).

Sections:
    occ     positions: occupancy bytes of the 16-level octree (one model per depth); splats are
            stored in Morton order, one per leaf
    nets    every network (MLP_oct, the four heads, the context MLP_h) as float16, in
            state_dict order
    coded   the 8 feature values and 3 log scale bounds per splat: integers round(v / Delta),
            ANS-coded with constriction's QuantizedGaussian under per-symbol (mu, sigma, Delta)
            from the context model (entropy_model.py), which the decoder recomputes from the
            positions and the stored networks

Decoding rebuilds exactly the scene that was encoded; encoding a decoded scene again gives the
same bytes (the networks are already float16, the values already on their Delta grids).
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
CODEC_VERSION = 1
SYMBOL_LIMIT = 1 << 15


def _nets_bytes(decoder: SmolDecoder, context: ContextModel) -> bytes:
    parts = [t.detach().cpu().half().numpy().tobytes() for t in list(decoder.state_dict().values()) + list(context.state_dict().values())]
    return b"".join(parts)


def _load_nets(data: bytes, arch: SmolArch, path: str | None) -> tuple[SmolDecoder, ContextModel]:
    decoder, context = SmolDecoder(arch), ContextModel(arch.ctx_hidden)
    pos = 0
    for module in (decoder, context):
        sd = module.state_dict()
        for name, t in sd.items():
            nbytes = t.numel() * 2
            if pos + nbytes > len(data):
                raise InputError(path, "the network section is too short for the stored architecture")
            sd[name] = torch.from_numpy(np.frombuffer(data[pos : pos + nbytes], np.float16).astype(np.float32)).reshape(t.shape)
            pos += nbytes
        module.load_state_dict(sd)
    if pos != len(data):
        raise InputError(path, "the network section is longer than the stored architecture")
    return decoder.eval(), context.eval()


def _round_to_half(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.half().float())


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
    _round_to_half(decoder)
    _round_to_half(ctx)
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
    depth_ctx = np.concatenate([np.full(len(o), d) for d, o in enumerate(occ)])
    sections = {
        "occ": entropy.encode(np.concatenate(occ), depth_ctx, CODE_BITS),
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
    depth_ctx = np.concatenate([np.full(m, d) for d, m in enumerate(per_depth)])
    occ_flat = entropy.decode(c.section("occ", path), depth_ctx, len(depth_ctx), path)
    occ = [a.astype(np.uint8) for a in np.split(occ_flat, np.cumsum(per_depth)[:-1])]
    try:
        leaves = octree.rebuild(occ, CODE_BITS)
    except ValueError as e:
        raise InputError(path, f"corrupt octree ({e})") from None
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

