"""Reading images to code and writing decoded ones (errors name the file; writes are atomic)."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import InputError
from engine.io.atomic import atomic_output

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".avif")
MAX_PIXELS = 400_000_000  # beyond Pillow's bomb limit on purpose: ultra-high resolution is the point


def load_image(path: str | os.PathLike) -> np.ndarray:
    """An RGB image [H, W, 3] uint8 (EXIF orientation applied; alpha composited on white)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(path, "no such file" if not os.path.exists(path) else "not a file")
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, rgba)
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except UnidentifiedImageError:
        raise InputError(path, "not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise InputError(path, f"cannot read the image ({e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(path, "the image is empty")
    return arr


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write [H, W, 3] uint8 as PNG through a temporary file."""
    with atomic_output(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format="PNG")
