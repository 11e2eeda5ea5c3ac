"""2D Gaussian image codec (SmartSplat, arXiv 2512.20377) with a real bitstream (``.sgi``).

    from engine.image import TrainConfig, compress_job, decompress_job, load_image
    from engine import jobs
    result = jobs.run(compress_job(load_image("kodim23.png"), TrainConfig(bpp=0.2), "k23.sgi"))
    result.bpp, result.psnr                      # the file's true rate, the decoded quality
    image = codec.decode_file("k23.sgi")         # [H, W, 3] uint8, deterministic

Modules: gaussians (parameters, budget), rasterize (+ reference: the dense twin), init (the three
samplings), loss, refit (least-squares colours), quantize, bitstream (entropy coding), codec
(.sgi), tiles, train (the job), baselines (JPEG / WebP / AVIF at a matched rate), imageio.
"""

from engine.image import codec
from engine.image.gaussians import Gaussians2D, parse_rate
from engine.image.imageio import load_image, save_png
from engine.image.train import CompressResult, TrainConfig, compress_job, decompress_job

__all__ = ["codec", "Gaussians2D", "parse_rate", "load_image", "save_png", "CompressResult", "TrainConfig",
           "compress_job", "decompress_job"]  # fmt: skip
