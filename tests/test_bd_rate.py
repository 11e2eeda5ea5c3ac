"""engine.bd (Bjøntegaard-delta rate and PSNR, piecewise-cubic form) and its use in engine.rd.

Expected values are worked out here without the code under test: a constant rate factor or PSNR
offset (exact for any interpolant), curves linear in log-rate (PCHIP reproduces a line, so the
mean gap is the gap at the overlap's midpoint), and a three-point curve whose PCHIP integral is
computed by hand from the Fritsch-Butland slopes and the Hermite-cubic quadrature
h (y0 + y1) / 2 + h^2 (d0 - d1) / 12 per interval.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.bd import bd_psnr, bd_rate
from engine.rd import LABELS, bd_lines, bd_rates_against, save_rd, validate_rd

# a realistic four-point anchor (bytes, dB), deliberately not a line in log-rate
RATES = np.array([236_017.0, 532_342.0, 776_614.0, 1_665_732.0])
PSNRS = np.array([30.78, 38.40, 43.46, 60.65])


# ---------------------------------------------------------------------------- (a) exact shifts
def test_a_constant_rate_factor_is_the_bd_rate():
    assert bd_rate(RATES, PSNRS, RATES * 0.8, PSNRS) == pytest.approx(-20.0, abs=1e-6)
    assert bd_rate(RATES, PSNRS, RATES * 1.25, PSNRS) == pytest.approx(25.0, abs=1e-6)
    assert bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)


def test_a_constant_psnr_offset_is_the_bd_psnr():
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS + 1.0) == pytest.approx(1.0, abs=1e-9)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS - 0.5) == pytest.approx(-0.5, abs=1e-9)
    # the better curve (fewer bytes, or more dB) is better on both measures
    assert bd_psnr(RATES, PSNRS, RATES * 0.8, PSNRS) > 0
    assert bd_rate(RATES, PSNRS, RATES, PSNRS + 1.0) < 0


# ---------------------------------------------------------------------------- (b) worked examples
def test_curves_linear_in_log_rate_partly_overlapping():
    """log10 R = a + b P (anchor) and c + d P (test) at irregular PSNRs with different ranges."""
    a, b, c, d = -1.0, 0.2, 0.5, 0.15
    pa = np.array([28.3, 31.0, 34.7, 38.2])
    pt = np.array([29.5, 33.1, 36.0, 40.9])
    ra, rt = 10 ** (a + b * pa), 10 ** (c + d * pt)
    # BD-rate: mean of (c - a) + (d - b) P over the PSNR overlap [29.5, 38.2] = value at its middle
    mid_p = (29.5 + 38.2) / 2
    expected_rate = (10 ** ((c - a) + (d - b) * mid_p) - 1) * 100
    assert bd_rate(ra, pa, rt, pt) == pytest.approx(expected_rate, rel=1e-9)
    # BD-PSNR: P = (x - a) / b and (x - c) / d in x = log10 R, over the log-rate overlap
    lo = max(a + b * 28.3, c + d * 29.5)
    hi = min(a + b * 38.2, c + d * 40.9)
    m = (lo + hi) / 2
    assert bd_psnr(ra, pa, rt, pt) == pytest.approx((m - c) / d - (m - a) / b, rel=1e-9)


def test_a_three_point_curve_against_its_hand_computed_pchip_integral():
    """Anchor log10 R = 5, 5.5, 6 at PSNR 30, 32, 36 (h = 2, 4; slopes 1/4, 1/8).

    PCHIP slopes: interior, the weighted harmonic mean (w1 = 2 h1 + h0 = 10, w2 = h1 + 2 h0 = 8):
    18 / d1 = 10 / (1/4) + 8 / (1/8) = 104, so d1 = 9/52; ends, the three-point formula:
    d0 = ((2 h0 + h1) m0 - h0 m1) / (h0 + h1) = 7/24 and d2 = ((2 h1 + h0) m1 - h1 m0) / 6 = 1/24.
    Integral over [30, 36] = 2 * 10.5 / 2 + 4 (7/24 - 9/52) / 12 + 4 * 11.5 / 2 + 16 (9/52 - 1/24) / 12
                           = 33.5 + 37/936 + 164/936 = 33.5 + 67/312.
    Test: log10 R linear from 4.9 to 5.5 over the same PSNR range, integral 6 * 5.2 = 31.2."""
    pa, la = [30.0, 32.0, 36.0], np.array([5.0, 5.5, 6.0])
    pt, lt = [30.0, 33.0, 36.0], np.array([4.9, 5.2, 5.5])
    gap = (31.2 - (33.5 + 67 / 312)) / 6
    assert bd_rate(10**la, pa, 10**lt, pt) == pytest.approx((10**gap - 1) * 100, rel=1e-10)
    # a straight line through the anchor's points (no cubic) would be off by ~8 % of the rate
    assert abs(bd_rate(10**la, pa, 10**lt, pt) - (10 ** ((31.2 - 33.5) / 6) - 1) * 100) > 2.0


def test_a_three_point_curve_bd_psnr_against_its_hand_computed_pchip_integral():
    """The anchor as PSNR(x), x = log10 R = 5, 5.4, 6 -> 30, 32, 36 (h = 0.4, 0.6; slopes 5, 20/3).

    d1: (1.6 + 1.4) / d1 = 1.6 / 5 + 1.4 / (20/3) = 0.53, d1 = 300/53 (w1 = 2 h1 + h0, w2 = h1 + 2 h0);
    d0 = (1.4 * 5 - 0.4 * 20/3) / 1 = 13/3; d2 = (1.6 * 20/3 - 0.6 * 5) / 1 = 23/3.
    Integral over [5, 6] = 0.4 * 62 / 2 + 0.16 (13/3 - 300/53) / 12 + 0.6 * 68 / 2 + 0.36 (300/53 - 23/3) / 12
                         = 32.8 - 211/11925 - 319/5300.
    Test: PSNR = 31 + 4 (x - 5) at x = 5, 5.25, 6, integral 33 over the same range. (Uneven
    spacing on purpose: with even spacing the interior slope cancels out of the integral.)"""
    la, pa = np.array([5.0, 5.4, 6.0]), [30.0, 32.0, 36.0]
    lt = np.array([5.0, 5.25, 6.0])
    pt = 31 + 4 * (lt - 5)
    expected = 33 - (32.8 - 211 / 11925 - 319 / 5300)
    assert bd_psnr(10**la, pa, 10**lt, pt) == pytest.approx(expected, rel=1e-10)


# ---------------------------------------------------------------------------- (c) errors
def test_undefined_cases_raise_value_error():
    with pytest.raises(ValueError, match="do not overlap in PSNR"):
        bd_rate([100, 200], [30, 32], [100, 200], [33, 35])
    with pytest.raises(ValueError, match="do not overlap in rate"):
        bd_psnr([100, 200], [30, 32], [300, 400], [30, 32])
    with pytest.raises(ValueError, match="do not overlap"):  # touching at one PSNR is no interval
        bd_rate([100, 200], [30, 32], [100, 200], [32, 35])
    with pytest.raises(ValueError, match="at least 2"):
        bd_rate([100], [30], [100, 200], [30, 32])
    with pytest.raises(ValueError, match="at least 2"):
        bd_psnr([100, 200], [30, 32], [], [])
    with pytest.raises(ValueError, match="distinct"):  # two points, one PSNR
        bd_rate([100, 200], [30, 30], [100, 200], [30, 32])
    with pytest.raises(ValueError, match="rates must be > 0"):
        bd_rate([0, 200], [30, 32], [100, 200], [30, 32])
    with pytest.raises(ValueError, match="non-finite PSNR"):
        bd_psnr([100, 200], [30, math.inf], [100, 200], [30, 32])
    with pytest.raises(ValueError, match="2 rates but 3 PSNRs"):
        bd_rate([100, 200], [30, 31, 32], [100, 200], [30, 32])


# ---------------------------------------------------------------------------- (d) order, repeats
def test_the_order_of_points_and_exact_repeats_do_not_matter():
    rt, pt = RATES * np.array([0.7, 0.9, 0.85, 1.1]), PSNRS + np.array([0.3, -0.2, 0.5, 0.1])
    want_r, want_p = bd_rate(RATES, PSNRS, rt, pt), bd_psnr(RATES, PSNRS, rt, pt)
    rng = np.random.default_rng(0)
    for _ in range(5):
        i, j = rng.permutation(4), rng.permutation(4)
        assert bd_rate(RATES[i], PSNRS[i], rt[j], pt[j]) == pytest.approx(want_r, abs=1e-12)
        assert bd_psnr(RATES[i], PSNRS[i], rt[j], pt[j]) == pytest.approx(want_p, abs=1e-12)
    twice = np.r_[RATES, RATES[:2]], np.r_[PSNRS, PSNRS[:2]]
    assert bd_rate(*twice, rt, pt) == pytest.approx(want_r, abs=1e-12)
    assert bd_psnr(*twice, rt, pt) == pytest.approx(want_p, abs=1e-12)


def test_points_sharing_an_abscissa_keep_the_better_one():
    # a worse point at an anchor PSNR already present (more bytes) is ignored by BD-rate
    worse = np.r_[RATES, RATES[1] * 3], np.r_[PSNRS, PSNRS[1]]
    assert bd_rate(*worse, RATES * 0.8, PSNRS) == pytest.approx(-20.0, abs=1e-6)
    # and a worse point at a rate already present (fewer dB) is ignored by BD-PSNR
    worse = np.r_[RATES, RATES[2]], np.r_[PSNRS, PSNRS[2] - 5]
    assert bd_psnr(*worse, RATES, PSNRS + 1) == pytest.approx(1.0, abs=1e-9)


# ---------------------------------------------------------------------------- engine.rd
def _point(nbytes, psnr, level=None):
    return {"level": level, "bytes": nbytes, "bits_per_gaussian": nbytes * 8 / 1000, "ratio": 56_000 / nbytes,
            "psnr": psnr, "ssim": 0.9, "encode_s": 0.1, "decode_s": 0.1, "count": 1000}  # fmt: skip


def _result():
    ladder = [_point(int(r), float(p), level) for level, r, p in zip((8, 7, 6, 3), RATES, PSNRS)]
    smol = [_point(r / 2, float(p)) for r, p in zip(RATES, PSNRS)]
    return {"schema": "splatlab.rd/1", "scene": {"path": None, "count": 1000, "sh_degree": 0, "ply_bytes": 56_000},
            "reference": {"mode": "orbit", "views": 2, "size": 96},
            "curves": [{"codec": "ladder", "label": LABELS["ladder"], "points": ladder},
                       {"codec": "spz", "label": LABELS["spz"], "points": [_point(2_235_909, math.inf)]},
                       {"codec": "fp16_ply", "label": LABELS["fp16_ply"], "points": [_point(4_277_274, 57.11)]},
                       {"codec": "smol", "label": LABELS["smol"], "points": smol},
                       {"codec": "sog", "label": LABELS["sog"],
                        "points": [_point(1_000_000, 70.0), _point(1_500_000, 72.0)]}]}  # fmt: skip


def test_bd_rates_against_the_ladder():
    bd = bd_rates_against(_result())
    assert list(bd) == ["spz", "fp16_ply", "smol", "sog"]  # every codec but the anchor
    # half the bytes at each of the ladder's PSNRs: -50 %
    assert bd["smol"]["bd_rate_percent"] == pytest.approx(-50.0, abs=1e-6)
    assert bd["smol"]["bd_psnr_db"] > 0 and bd["smol"]["reason"] is None
    assert bd["spz"]["bd_rate_percent"] is None and bd["spz"]["bd_psnr_db"] is None
    assert "0 points with a finite PSNR (1 lossless or unmeasured left out)" in bd["spz"]["reason"]
    assert "1 point with a finite PSNR; a BD curve needs at least 2" in bd["fp16_ply"]["reason"]
    # SOG lies above the ladder's PSNR range but overlaps it in bytes: BD-PSNR only
    assert bd["sog"]["bd_rate_percent"] is None and bd["sog"]["bd_psnr_db"] is not None
    assert bd["sog"]["reason"].startswith("BD-rate: the curves do not overlap in PSNR")
    # no anchor, or a one-point anchor: every codec says why
    res = _result()
    res["curves"][0]["points"] = res["curves"][0]["points"][:1]
    assert all("the ladder has 1 point" in e["reason"] for e in bd_rates_against(res).values())
    res["curves"] = res["curves"][1:]
    assert all(e["reason"] == "the result has no ladder curve" for e in bd_rates_against(res).values())


def test_bd_lines_print_one_line_per_codec():
    lines = bd_lines(_result())
    assert lines[0].startswith("BD-rate against the ladder") and "negative = fewer bytes" in lines[0]
    assert len(lines) == 5
    smol = next(s for s in lines if LABELS["smol"] in s)
    assert "BD-rate  -50.00 %" in smol and "BD-PSNR +" in smol and "not defined" not in smol
    spz = next(s for s in lines if LABELS["spz"] in s)
    assert "not defined:" in spz and "BD-rate" not in spz.split(LABELS["spz"])[1]
    sog = next(s for s in lines if LABELS["sog"] in s)
    assert "BD-PSNR" in sog and "BD-rate: the curves do not overlap" in sog and "not defined" not in sog


def test_save_rd_writes_bd_and_validate_rd_takes_old_and_new_files(tmp_path):
    result = _result()
    validate_rd(result)  # an older file: no "bd"
    save_rd(tmp_path / "rd.json", result)
    assert "bd" not in result  # the caller's result is left as it was
    back = json.loads((tmp_path / "rd.json").read_text())
    validate_rd(back)
    assert back["bd"]["anchor"] == "ladder" and back["bd"]["rate"] == "bytes"
    assert back["bd"]["codecs"]["smol"]["bd_rate_percent"] == pytest.approx(-50.0, abs=1e-6)
    assert back["bd"]["codecs"]["spz"]["bd_rate_percent"] is None
    back["bd"]["codecs"]["smol"] = {"bd_rate_percent": -50.0}
    with pytest.raises(ValueError, match="bd of smol"):
        validate_rd(back)
    back["bd"] = {"codecs": {}}
    with pytest.raises(ValueError, match="anchor"):
        validate_rd(back)
