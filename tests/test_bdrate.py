"""BD-rate: known published values, exact cases, the PCHIP model, and reading results files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lic_zoo.errors import InvalidCurveError
from lic_zoo.evaluation.bdrate import _pchip_integral, bd_rate, bd_rate_curves, read_curve

# CompressAI's published Kodak results (InterDigitalInc/CompressAI, results/image/kodak/, BSD-3-Clause-Clear),
# rounded to 6 significant digits: VTM and mbt2018 (MSE, CPU).
VTM = ([0.048245, 0.112495, 0.245817, 0.490545, 0.87481, 1.43085, 2.324607, 3.632609],
       [26.1448, 28.493, 31.1999, 34.2615, 37.4198, 40.4244, 43.5058, 46.5918])
MBT2018 = ([0.110538, 0.186968, 0.287703, 0.432322, 0.638804, 0.885335, 1.200402, 1.587419],
           [28.0889, 29.6453, 31.3624, 33.0856, 35.0936, 36.9886, 38.9332, 40.6404])

KODAK = Path(__file__).resolve().parents[2] / "shared" / "anchors" / "compressai-kodak"
# BD-rates (PSNR-RGB, cubic) against vtm.json as that folder's README lists them, to the digits it gives.
KNOWN_VS_VTM = {
    "compressai-bmshj2018-factorized_mse_cpu.json": "67.8",
    "compressai-bmshj2018-hyperprior_mse_cpu.json": "30.1",
    "compressai-mbt2018-mean_mse_cpu.json": "21.0",
    "compressai-mbt2018_mse_cpu.json": "10.6",
    "compressai-cheng2020-anchor_mse_cpu.json": "3.8",
    "paper-elic2022_mse.json": "-7.2",
    "bpg_444_x265_ycbcr.json": "22.1",
    "av1.json": "16.2",
    "jpeg2000.json": "97",
    "webp.json": "78",
    "jpeg.json": "210",
}


def test_mbt2018_vs_vtm_cubic_matches_published_value():
    assert bd_rate(*VTM, *MBT2018, method="cubic") == pytest.approx(10.6, abs=0.05)


def test_pchip_is_close_to_cubic_on_smooth_curves():
    assert bd_rate(*VTM, *MBT2018, method="pchip") == pytest.approx(11.02, abs=0.01)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_identical_curves_give_zero_and_scaled_rates_give_the_scale(method):
    rate, psnr = VTM
    assert bd_rate(rate, psnr, rate, psnr, method) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(rate, psnr, [0.9 * r for r in rate], psnr, method) == pytest.approx(-10.0, abs=1e-9)
    # Point order does not matter.
    assert bd_rate(rate[::-1], psnr[::-1], [1.2 * r for r in rate], psnr, method) == pytest.approx(20.0, abs=1e-9)


def test_pchip_integral_is_exact_on_monotone_data_it_reproduces():
    # PCHIP reproduces a straight line exactly, so its integral is the trapezoid.
    x = np.array([0.0, 1.0, 2.5, 4.0])
    y = 3.0 * x + 1.0
    assert _pchip_integral(x, y, 0.5, 3.0) == pytest.approx(1.5 * (3.0**2 - 0.5**2) + 2.5, abs=1e-12)


def test_pchip_matches_scipy_when_available():
    interpolate = pytest.importorskip("scipy.interpolate")
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 9))
        x = np.cumsum(rng.uniform(0.1, 2.0, n))
        y = rng.normal(size=n)
        lo, hi = np.sort(rng.uniform(x[0], x[-1], 2))
        expected = interpolate.PchipInterpolator(x, y).integrate(lo, hi)
        assert _pchip_integral(x, y, lo, hi) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("anchor", "test", "message"),
    [
        ((VTM[0][:3], VTM[1][:3]), MBT2018, "at least 4 points"),
        (VTM, ([0.1, 0.2, 0.3, 0.4], [50, 51, 52, 53]), "do not overlap"),
        (VTM, ([0.1, 0.2, 0.3, 0.4], [30, 31, 31, 33]), "same quality"),
        (VTM, ([0.1, 0.0, 0.3, 0.4], [30, 31, 32, 33]), "positive"),
    ],
)
def test_unusable_curves_raise_a_typed_error(anchor, test, message):
    with pytest.raises(InvalidCurveError, match=message):
        bd_rate(*anchor, *test, method="cubic")


def _write_results(path: Path, name: str, bpp, psnr, ms_ssim=None) -> Path:
    results = {"bpp": bpp, "psnr-rgb": psnr}
    if ms_ssim is not None:
        results["ms-ssim-rgb"] = ms_ssim
    path.write_text(json.dumps({"name": name, "description": "", "results": results}))
    return path


def test_read_curve_reads_psnr_and_converts_ms_ssim_to_db(tmp_path):
    path = _write_results(tmp_path / "a.json", "A", [0.1, 0.2], [30.0, 32.0], [0.9, 0.99])
    curve = read_curve(path)
    assert curve.name == "A" and list(curve.bpp) == [0.1, 0.2] and list(curve.quality) == [30.0, 32.0]
    assert read_curve(path, "ms-ssim-rgb").quality == pytest.approx([10.0, 20.0])


def test_read_curve_rejects_missing_values_and_non_results(tmp_path):
    with pytest.raises(InvalidCurveError, match="no ms-ssim-rgb"):
        read_curve(_write_results(tmp_path / "a.json", "A", [0.1], [30.0]), "ms-ssim-rgb")
    with pytest.raises(InvalidCurveError, match="missing"):
        read_curve(_write_results(tmp_path / "b.json", "B", [0.1, 0.2], [30.0, 32.0], [0.9, None]), "ms-ssim-rgb")
    (tmp_path / "c.json").write_text("[1, 2]")
    with pytest.raises(InvalidCurveError, match="not a results file"):
        read_curve(tmp_path / "c.json")


@pytest.mark.skipif(not KODAK.is_dir(), reason="shared/anchors/compressai-kodak is not beside the repository")
@pytest.mark.parametrize(("name", "expected"), sorted(KNOWN_VS_VTM.items()))
def test_published_kodak_bd_rates(name, expected):
    value = bd_rate_curves(read_curve(KODAK / "vtm.json"), read_curve(KODAK / name), "cubic")
    decimals = len(expected.partition(".")[2])
    assert round(value, decimals) == pytest.approx(float(expected)), value
