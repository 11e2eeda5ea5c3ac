"""Multi-view captures (images + camera poses) for training and evaluation.

``load_capture(path)`` reads a capture folder in one of three layouts and returns a
:class:`Capture`: OpenCV cameras, a fixed train/test split, lazily decoded images and, for COLMAP,
the sparse point cloud that 3DGS starts from. The layouts, detected in this order:

1. **COLMAP** (``sparse/0/`` or ``sparse/``; :mod:`.colmap`);
2. **NeRF-synthetic** (``transforms_train.json`` [+ ``_val`` and ``_test``]; :mod:`.nerf`);
3. **instant-ngp** (``transforms.json``; :mod:`.nerf`).

The package, one module per concern:

- :mod:`.distortion`: the OpenCV radial-tangential lens model and image undistortion;
- :mod:`.model`: :class:`Capture` and :class:`Frame`, and decoding a frame's image;
- :mod:`.nerf`, :mod:`.colmap`: the format readers, which list frames (pose, intrinsics, image
  path candidates) without opening any image;
- :mod:`.load`: :func:`load_capture`: detection, probing image headers, skipping and warning
  about missing or unreadable images, the train/test split.

Conventions shared by all layouts:

- Poses are converted to the engine's OpenCV axes (+x right, +y down, +z forward) once, here.
- Pixel centres sit at integer + 0.5 (COLMAP, instant-ngp, 3DGS and gsplat all agree), so
  scaling an image by ``s`` scales ``fx fy cx cy`` by ``s``.
- Distorted images are undistorted on load into a pinhole image with the same K and size.
- Images are decoded lazily (``Capture.image(i)``) and cached in memory at the output
  resolution; loading a capture only reads each image's header.
"""

from engine.io.captures.distortion import Distortion, distort_normalized, undistort_image, undistort_normalized
from engine.io.captures.load import is_capture, load_capture
from engine.io.captures.model import Capture, CaptureWarning, Frame

__all__ = [
    "Capture",
    "CaptureWarning",
    "Distortion",
    "Frame",
    "distort_normalized",
    "is_capture",
    "load_capture",
    "undistort_image",
    "undistort_normalized",
]
