"""Classic image codecs at a matched rate: JPEG, WebP and AVIF through Pillow (requirement 6).

The rate of every point is the true size of the file Pillow writes (headers included), × 8 /
pixels, as for ``.sgi``. :func:`at_bpp` binary-searches the codec's integer quality (0-100, a
monotone knob in practice) for the *highest* quality whose file fits the target; when even the
lowest quality is larger than the target (JPEG below ~0.15 bpp on Kodak) the lowest-quality file
is returned with ``reached=False``, so a table can show that the codec cannot go that low.

Settings: JPEG with optimised Huffman tables and 4:2:0 chroma; WebP lossy at ``method=6``
(slowest, best); AVIF (libavif through Pillow) at ``speed=4``, 4:2:0. These are the usual
"good effort" settings of each library, not its fastest.

Reference figures on Kodak (CompressAI's published results, results/image/kodak): JPEG 0.221 bpp → 23.78 dB, WebP
0.234 → 28.33, AV1 intra 0.110 → 27.56.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, features

from engine.errors import InputError

CODECS = ("jpeg", "webp", "avif")
LABELS = {"smartsplat": "SmartSplat (.sgi)", "jpeg": "JPEG", "webp": "WebP", "avif": "AVIF"}
_FEATURE = {"jpeg": "jpg", "webp": "webp", "avif": "avif"}


def available(codec: str) -> bool:
    """Whether this Pillow can write ``codec`` (AVIF needs Pillow >= 11.3 built with libavif)."""
    if codec not in CODECS:
        return False
    try:
        return bool(features.check(_FEATURE[codec]))
    except Exception:  # noqa: BLE001 - an unknown feature name in an old Pillow means "no"
        return False


def available_codecs() -> tuple[str, ...]:
    return tuple(c for c in CODECS if available(c))


def encode(image: np.ndarray, codec: str, quality: int) -> bytes:
    """The file ``codec`` writes for ``image`` [H, W, 3] uint8 at ``quality`` (0-100)."""
    if not available(codec):
        raise InputError(None, f"this Pillow cannot write {LABELS.get(codec, codec)}")
    im = Image.fromarray(np.ascontiguousarray(image), "RGB")
    buf = io.BytesIO()
    q = int(quality)
    if codec == "jpeg":
        im.save(buf, format="JPEG", quality=max(q, 1), optimize=True, subsampling="4:2:0")
    elif codec == "webp":
        im.save(buf, format="WEBP", quality=q, method=6)
    else:
        im.save(buf, format="AVIF", quality=q, speed=4, subsampling="4:2:0")
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


@dataclass
class Point:
    codec: str
    quality: int
    bytes: int
    bpp: float
    psnr: float
    ms_ssim: float | None  # None where the image has a side of 160 px or less
    reached: bool  # False: even the lowest quality is above the target rate
    image: np.ndarray | None = None  # decoded [H, W, 3] uint8 (dropped by :meth:`summary`)

    def summary(self) -> dict:
        return {"codec": self.codec, "quality": self.quality, "bytes": self.bytes, "bpp": self.bpp,
                "psnr": self.psnr, "ms_ssim": self.ms_ssim, "reached": self.reached}  # fmt: skip


def measure(image: np.ndarray, codec: str, quality: int, keep_image: bool = False, reached: bool = True) -> Point:
    """Encode, decode and score one quality setting."""
    from engine.metrics import ms_ssim, psnr

    data = encode(image, codec, quality)
    dec = decode(data)
    h, w = image.shape[:2]
    msim = ms_ssim(dec, image) if min(h, w) > 160 else None
    return Point(codec, int(quality), len(data), len(data) * 8 / (h * w), psnr(dec, image), msim, reached,
                 dec if keep_image else None)  # fmt: skip


def at_bpp(image: np.ndarray, codec: str, bpp: float, keep_image: bool = False) -> Point:
    """The highest-quality ``codec`` file of ``image`` whose true rate is <= ``bpp``."""
    if not (math.isfinite(bpp) and bpp > 0):
        raise InputError(None, f"target bpp {bpp!r} must be positive")
    h, w = image.shape[:2]
    budget = bpp * h * w / 8.0
    lo, hi = (1 if codec == "jpeg" else 0), 100  # invariant: quality lo fits (once checked), hi + 1 does not
    if len(encode(image, codec, lo)) > budget:
        return measure(image, codec, lo, keep_image, reached=False)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(encode(image, codec, mid)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return measure(image, codec, lo, keep_image)


def matched_job(image: np.ndarray, bpp: float, codecs: tuple[str, ...] | None = None, cancel=None):
    """Job: every available codec (or ``codecs``) at the rate ``bpp`` (:func:`at_bpp`); yields
    Progress per codec and returns the list of :class:`Point` (decoded images dropped)."""
    from engine.jobs import CancelToken, Progress

    cancel = cancel or CancelToken()
    codecs = available_codecs() if codecs is None else tuple(c for c in codecs if available(c))
    points = []
    for i, c in enumerate(codecs):
        cancel.check()
        yield Progress(i, len(codecs), f"{LABELS[c]} at {bpp:.3f} bpp", {})
        points.append(at_bpp(image, c, bpp))
    yield Progress(len(codecs), len(codecs), "matched", {})
    return points
