"""Bjøntegaard-delta rate and PSNR: how far apart two rate-distortion curves are on average.

G. Bjøntegaard, "Calculation of average PSNR differences between RD-curves", ITU-T VCEG-M33
(2001) fits each curve with a cubic polynomial in log-rate and averages the gap between the two
fits over the range where both curves have points. The single cubic can swing outside the points
for some curve shapes, so the HEVC common test conditions' BD-rate spreadsheet (F. Bossen,
"Common HM test conditions and software reference configurations", JCTVC-L1100, 2013) and the
later JVET ones interpolate piecewise instead; this is that form, the one BD-rate tools call
"pchip" (e.g. the ``bjontegaard`` package's ``bd_piecewise_cubic``):

- every curve is a set of (rate, PSNR) points; rates are taken as log10(rate);
- BD-rate: log-rate is interpolated as a function of PSNR with a monotone piecewise-cubic
  Hermite interpolant (PCHIP, Fritsch & Carlson 1980, derivatives after Fritsch & Butland 1984:
  ``scipy.interpolate.PchipInterpolator``), both interpolants are integrated exactly over the
  overlapping PSNR interval, and the mean log-rate difference d gives ``(10**d - 1) * 100`` percent;
- BD-PSNR: PSNR is interpolated as a function of log-rate and the mean PSNR difference over the
  overlapping log-rate interval is returned in dB.

Signs: a negative BD-rate means the test curve needs fewer bits than the anchor at equal PSNR; a
positive BD-PSNR means the test curve has a higher PSNR than the anchor at equal rate. Both are
better-for-test.

Points are sorted first (their order does not matter). Points sharing an abscissa (the same PSNR
for BD-rate, the same rate for BD-PSNR) are merged into the better of them (lowest rate, highest
PSNR); an exact repeat is thus simply dropped. Each curve needs at least two distinct points
(four is the usual number); fewer, non-positive or non-finite rates, non-finite PSNRs, or curves
whose ranges do not overlap raise ``ValueError``.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

__all__ = ["bd_rate", "bd_psnr"]


def _curve(rates, psnrs, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated (log10 rate [N], PSNR [N]) float64 arrays of one curve, in the given order."""
    r = np.asarray(rates, dtype=np.float64).reshape(-1)  # [N]
    p = np.asarray(psnrs, dtype=np.float64).reshape(-1)  # [N]
    if r.shape != p.shape:
        raise ValueError(f"the {name} curve has {r.size} rates but {p.size} PSNRs")
    if r.size < 2:
        raise ValueError(f"the {name} curve has {r.size} point(s); a BD measure needs at least 2 (4 is usual)")
    if not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise ValueError(f"the {name} curve has a non-positive or non-finite rate: rates must be > 0")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"the {name} curve has a non-finite PSNR")
    return np.log10(r), p


def _interpolant(x: np.ndarray, y: np.ndarray, keep_max: bool, name: str, what: str) -> PchipInterpolator:
    """PCHIP of y(x) over the distinct x [M] (sorted); of points sharing an x, the largest y is kept
    if ``keep_max`` else the smallest (the better point either way)."""
    order = np.lexsort((-y if keep_max else y, x))  # by x, then the better y first
    x, y = x[order], y[order]  # [N]
    first = np.ones(x.size, dtype=bool)
    first[1:] = x[1:] != x[:-1]
    x, y = x[first], y[first]  # [M], M <= N
    if x.size < 2:
        raise ValueError(f"the {name} curve has fewer than 2 distinct {what} values; a BD measure needs at least 2")
    return PchipInterpolator(x, y)


def _mean_gap(anchor: PchipInterpolator, test: PchipInterpolator, what: str) -> float:
    """Mean of test(x) - anchor(x) over the overlap of the two interpolants' x ranges."""
    lo = max(anchor.x[0], test.x[0])
    hi = min(anchor.x[-1], test.x[-1])
    if not hi > lo:
        raise ValueError(
            f"the curves do not overlap in {what}: anchor spans {_span(anchor, what)}, test spans {_span(test, what)}"
        )
    return float((test.integrate(lo, hi) - anchor.integrate(lo, hi)) / (hi - lo))


def _span(f: PchipInterpolator, what: str) -> str:
    a, b = f.x[0], f.x[-1]
    if what == "rate":
        return f"{10**a:.6g}-{10**b:.6g}"
    return f"{a:.4g}-{b:.4g} dB"


def bd_rate(anchor_rates, anchor_psnrs, test_rates, test_psnrs) -> float:
    """Bjøntegaard-delta rate of the test curve against the anchor, in percent.

    Rates are any positive unit (bytes, bits, bits per Gaussian) as long as both curves use the
    same one; PSNR in dB. Each argument is a sequence of N (resp. M) numbers. Negative: the test
    needs that many percent fewer bits than the anchor at equal PSNR, averaged over the PSNR range
    both curves cover."""
    a_lr, a_p = _curve(anchor_rates, anchor_psnrs, "anchor")
    t_lr, t_p = _curve(test_rates, test_psnrs, "test")
    # log-rate as a function of PSNR; at a repeated PSNR the lowest rate is the better point
    anchor = _interpolant(a_p, a_lr, keep_max=False, name="anchor", what="PSNR")
    test = _interpolant(t_p, t_lr, keep_max=False, name="test", what="PSNR")
    gap = _mean_gap(anchor, test, "PSNR")  # mean log10(test rate / anchor rate)
    return float((10.0**gap - 1.0) * 100.0)


def bd_psnr(anchor_rates, anchor_psnrs, test_rates, test_psnrs) -> float:
    """Bjøntegaard-delta PSNR of the test curve against the anchor, in dB.

    Positive: the test has that much higher PSNR than the anchor at equal rate, averaged over the
    log-rate range both curves cover. Arguments as for :func:`bd_rate`."""
    a_lr, a_p = _curve(anchor_rates, anchor_psnrs, "anchor")
    t_lr, t_p = _curve(test_rates, test_psnrs, "test")
    # PSNR as a function of log-rate; at a repeated rate the highest PSNR is the better point
    anchor = _interpolant(a_lr, a_p, keep_max=True, name="anchor", what="rate")
    test = _interpolant(t_lr, t_p, keep_max=True, name="test", what="rate")
    return _mean_gap(anchor, test, "rate")
