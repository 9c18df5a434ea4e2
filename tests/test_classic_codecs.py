"""Classic codec wrappers: round trips with plausible rate and quality; missing libraries are detected."""
from __future__ import annotations

import numpy as np
import pytest

from codec_helpers import synthetic_image
from lic_zoo.evaluation import classic
from lic_zoo.evaluation.classic import CODECS, Vvc, rgb_to_yuv420p10, yuv420p10_to_rgb
from lic_zoo.evaluation.metrics import psnr_rgb


def rgb_image(height: int = 64, width: int = 96, seed: int = 0) -> np.ndarray:
    """The shared synthetic test image as 8-bit RGB (H, W, 3)."""
    x = synthetic_image(height, width, seed)
    return (x.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def require(name: str) -> type[classic.ClassicCodec]:
    codec = CODECS[name]
    if not codec.available():
        pytest.skip(f"{name} is not available here: needs {codec.requires}")
    return codec


@pytest.mark.parametrize("name", sorted(CODECS))
def test_round_trip_gives_plausible_rate_and_quality(name):
    cls = require(name)
    codec, rgb = cls(), rgb_image()
    points = []
    for setting in (cls.settings[len(cls.settings) // 3], cls.settings[-1]):  # a low-ish and the highest rate
        data = codec.encode(rgb, setting)
        rec = codec.decode(data, rgb.shape[:2])
        assert isinstance(data, bytes) and rec.dtype == np.uint8 and rec.shape == rgb.shape
        points.append((len(data) * 8 / (64 * 96), psnr_rgb(rec, rgb)))
    (bpp_low, psnr_low), (bpp_high, psnr_high) = points
    assert 0.05 < bpp_low < bpp_high < 24
    assert 24 < psnr_low < psnr_high
    assert psnr_high > 32
    assert cls.label in cls.description()


def test_every_codec_declares_a_sweep_and_a_label():
    for name, cls in CODECS.items():
        assert cls.name == name and cls.label and cls.setting_name and cls.requires
        assert len(cls.settings) >= 6, name


def test_missing_libraries_make_codecs_unavailable(monkeypatch):
    monkeypatch.setattr(classic, "_has_module", lambda module: False)
    classic._ffmpeg.cache_clear()
    try:
        assert not CODECS["heic"].available()
        assert not CODECS["jpegxl"].available()
        assert not CODECS["vvc"].available()
    finally:
        classic._ffmpeg.cache_clear()


def test_bt709_conversion_is_exact_on_grey_and_accurate_on_smooth_colour():
    grey = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 4, axis=0).repeat(3, axis=2)
    assert np.array_equal(yuv420p10_to_rgb(rgb_to_yuv420p10(grey), 4, 256), grey)
    yy, xx = np.mgrid[0:64, 0:96] / 100.0
    smooth = np.rint(np.stack([20 + 200 * xx, 50 + 150 * yy, 30 + 100 * (xx + yy) + 20 * np.sin(8 * xx)], axis=-1))
    smooth = smooth.astype(np.uint8)
    samples = rgb_to_yuv420p10(smooth)
    assert samples.dtype == np.uint16 and samples.size == 64 * 96 * 3 // 2
    assert psnr_rgb(yuv420p10_to_rgb(samples, 64, 96), smooth) > 50


@pytest.mark.parametrize("shape", [(31, 45), (20, 20)])
def test_vvc_pads_sizes_vvenc_refuses_and_crops_back(shape):
    require("vvc")
    rgb = rgb_image(*shape, seed=1)
    codec = Vvc()
    rec = codec.decode(codec.encode(rgb, 22), shape)
    assert rec.shape == rgb.shape and psnr_rgb(rec, rgb) > 28  # the test image has strong chroma noise
