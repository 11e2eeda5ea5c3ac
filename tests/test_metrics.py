"""Metrics against independent implementations on the same images."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from engine.metrics import MS_SSIM_WEIGHTS, mae, ms_ssim, psnr, ssim, ssim_differentiable
from tests.conftest import data_path


def _kodak_pair(noise: float = 0.05, seed: int = 0):
    from PIL import Image

    img = np.asarray(Image.open(data_path("images/kodak/kodim23.png")).convert("RGB"), np.float64) / 255.0
    img = img[:256, :384]
    rng = np.random.default_rng(seed)
    blurred = ndimage.gaussian_filter(img, sigma=(1.2, 1.2, 0))
    noisy = np.clip(blurred + rng.normal(0, noise, img.shape), 0, 1)
    return img, noisy


def test_psnr_matches_skimage():
    skm = pytest.importorskip("skimage.metrics")
    a, b = _kodak_pair()
    assert psnr(a, b) == pytest.approx(skm.peak_signal_noise_ratio(a, b, data_range=1.0), rel=1e-9)
    assert psnr(a, a) == math.inf


def test_mae_is_the_mean_absolute_difference_in_any_layout():
    a, b = _kodak_pair()
    assert mae(a, b) == pytest.approx(np.abs(a - b).mean(), rel=1e-12)
    assert mae(a, a) == 0.0
    a8, b8 = (np.round(x * 255).astype(np.uint8) for x in (a, b))
    assert mae(a8, b8) == pytest.approx(np.abs(a8.astype(int) - b8.astype(int)).mean() / 255.0, rel=1e-12)
    assert mae(torch.tensor(a[None]), torch.tensor(b[None])) == pytest.approx(mae(a, b), rel=1e-12)


def test_ssim_matches_skimage():
    skm = pytest.importorskip("skimage.metrics")
    a, b = _kodak_pair()
    ref = skm.structural_similarity(
        a, b, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(a, b) == pytest.approx(ref, abs=2e-3)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-9)


def _ms_ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM from Wang, Simoncelli & Bovik 2003, written independently with scipy:
    Gaussian (sigma 1.5, 11 taps) statistics over the valid region, 2x2 average downsampling;
    contrast-structure at every scale, luminance at the coarsest; channels averaged."""
    c1, c2 = 0.01**2, 0.03**2
    ax = np.arange(11) - 5
    g = np.exp(-(ax**2) / (2 * 1.5**2))
    g /= g.sum()

    def filt(x):
        x = ndimage.correlate1d(x, g, axis=0, mode="constant")[5:-5]
        return ndimage.correlate1d(x, g, axis=1, mode="constant")[:, 5:-5]

    vals = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        cs_list = []
        for level in range(5):
            mx, my = filt(x), filt(y)
            sxx, syy, sxy = filt(x * x) - mx * mx, filt(y * y) - my * my, filt(x * y) - mx * my
            cs = (2 * sxy + c2) / (sxx + syy + c2)
            lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
            cs_list.append(max(cs.mean(), 0.0))
            if level < 4:
                h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
                x = x[:h, :w].reshape(h // 2, 2, w // 2, 2).mean((1, 3))
                y = y[:h, :w].reshape(h // 2, 2, w // 2, 2).mean((1, 3))
        ssim_last = max((lum * cs).mean(), 0.0)
        v = np.prod([cs_list[i] ** MS_SSIM_WEIGHTS[i] for i in range(4)]) * ssim_last ** MS_SSIM_WEIGHTS[4]
        vals.append(v)
    return float(np.mean(vals))


def test_ms_ssim_matches_independent_reference():
    a, b = _kodak_pair()
    assert ms_ssim(a, b) == pytest.approx(_ms_ssim_reference(a, b), abs=2e-3)
    worse = _kodak_pair(noise=0.15)[1]
    assert ms_ssim(a, worse) < ms_ssim(a, b)


def test_ms_ssim_refuses_images_too_small_for_five_scales():
    a, b = _kodak_pair()
    with pytest.raises(ValueError, match="160"):
        ms_ssim(a[:128, :128], b[:128, :128])


def test_metrics_accept_uint8_and_tensors_and_batches():
    a, b = _kodak_pair()
    a8, b8 = (a * 255).round().astype(np.uint8), (b * 255).round().astype(np.uint8)
    assert psnr(a8, b8) == pytest.approx(psnr(a8 / 255.0, b8 / 255.0), rel=1e-9)
    ta, tb = torch.tensor(a), torch.tensor(b)
    assert ssim(ta, tb) == pytest.approx(ssim(a, b), rel=1e-9)
    batch = torch.stack([ta, ta])
    assert ssim(batch, batch) == pytest.approx(1.0)


def test_ssim_differentiable_has_gradient():
    a, b = _kodak_pair()
    x = torch.tensor(b, dtype=torch.float32, requires_grad=True)
    s = ssim_differentiable(x, torch.tensor(a, dtype=torch.float32))
    s.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert float(s.detach()) == pytest.approx(ssim(a, b), abs=1e-4)


def test_every_trainer_uses_the_one_photometric_loss():
    """0.8 L1 + 0.2 (1 - SSIM) has one home (engine.metrics.photometric_loss); the 3DGS trainer,
    Smol-GS and SmartSplat default to its weight, and SmartSplat's loss is it with its own SSIM."""
    from engine.codec.smol.train import SmolConfig
    from engine.image.loss import TargetLoss, loss_fn, ssim_same
    from engine.image.train import TrainConfig as ImageConfig
    from engine.metrics import SSIM_WEIGHT, photometric_loss
    from engine.train import TrainConfig

    assert SSIM_WEIGHT == 0.2
    assert TrainConfig().ssim_lambda == SmolConfig().ssim_lambda == ImageConfig(bpp=1.0).ssim_weight == SSIM_WEIGHT
    a, b = _kodak_pair()
    x, y = torch.tensor(b, dtype=torch.float32), torch.tensor(a, dtype=torch.float32)
    plain = 0.8 * (x - y).abs().mean() + 0.2 * (1 - ssim_differentiable(x, y))
    torch.testing.assert_close(photometric_loss(x, y), plain)
    torch.testing.assert_close(photometric_loss(x, y, 0.0), (x - y).abs().mean())
    torch.testing.assert_close(loss_fn(x, y), photometric_loss(x, y, ssim_fn=ssim_same))
    torch.testing.assert_close(TargetLoss(y)(x), photometric_loss(x, y, ssim_fn=ssim_same), rtol=1e-5, atol=1e-6)


def test_psnr_of_identical_images_is_inf_everywhere_and_null_in_json():
    """One convention (engine.metrics.psnr_from_mse): identical images measure +inf dB, in the
    metric, the trainers' per-step PSNR and image coding's; JSON writes it as null."""
    import json

    from engine.image.train import _psnr as image_step_psnr
    from engine.io.atomic import json_text
    from engine.metrics import psnr_from_mse

    a, _ = _kodak_pair()
    t = torch.tensor(a, dtype=torch.float32)
    assert psnr(a, a) == psnr_from_mse(0.0) == image_step_psnr(t, t) == math.inf
    assert psnr_from_mse(1e-4) == pytest.approx(40.0)
    text = json_text({"psnr": math.inf, "per_view": [1.0, -math.inf, math.nan], "n": 3, "f": np.float32("inf")})
    assert json.loads(text) == {"psnr": None, "per_view": [1.0, None, None], "n": 3, "f": None}
    assert "Infinity" not in text and "NaN" not in text
