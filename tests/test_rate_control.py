"""Rate control: a target bpp or PSNR searched over a variable-rate codec's qualities with real encodes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from lic_zoo import MSPCodec, UnknownModelError, load_local
from lic_zoo.cli import main
from lic_zoo.coding import bitstream
from lic_zoo.evaluation.metrics import psnr_rgb
from lic_zoo.image_io import to_uint8
from lic_zoo.rate_control import MAX_CHEAP_ENCODES, MAX_ENCODES, Probe, Target, output_psnr, search_quality
from lic_zoo.zoo import EMBEDDED_WEIGHTS
from lic_zoo.zoo.hub import save_pretrained

from codec_helpers import synthetic_image

H, W = 64, 96
LOW, HIGH = 0, 8


@pytest.fixture(scope="module")
def codec() -> MSPCodec:
    """A variable-rate msp-lite over qualities 0..8, warm-started from the embedded fixed-rate q3 weights as
    ``recipes/msp-lite-variable.yaml`` does: gain units as initialised (quantisation step ~ lambda^-1/2), a zero
    weight for the context network's quality input. Unlike random weights (bpp grows with quality there too, but
    PSNR stays flat near 7 dB) it reconstructs, so PSNR targets can be tested. Do not modify it."""
    torch.manual_seed(0)
    variable = MSPCodec("lite", quality=3, qualities=(LOW, HIGH))
    state = dict(load_local(EMBEDDED_WEIGHTS / "msp-lite-mse-q3").state_dict())
    own = variable.state_dict()
    state.update({k: v for k, v in own.items() if k.startswith("gains.")})
    name = "entropy.context.conv_in.weight"
    state[name] = torch.cat([state[name], state[name].new_zeros(state[name].shape[0], 1, *state[name].shape[2:])], 1)
    variable.load_state_dict(state, strict=True)
    return variable.eval()


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return synthetic_image(H, W, seed=0)


def bpp_of(data: bytes) -> float:
    return 8 * len(data) / (H * W)


def psnr_of(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    return psnr_rgb(to_uint8(x_hat).permute(1, 2, 0).numpy(), to_uint8(x).permute(1, 2, 0).numpy())


@pytest.fixture(scope="module")
def ends(codec, image) -> dict[float, tuple[float, float]]:
    """bpp and PSNR at the two ends of the range, without LOF."""
    return {q: (bpp_of(r.data), psnr_of(r.x_hat, image))
            for q in (LOW, HIGH) for r in [codec.encode(image, quality=q, lof_steps=0)]}


def test_bpp_and_psnr_grow_with_quality(codec, image):
    results = [codec.encode(image, quality=q, lof_steps=0) for q in (0, 2, 4, 6, 8)]
    bpps = [bpp_of(r.data) for r in results]
    psnrs = [psnr_of(r.x_hat, image) for r in results]
    assert all(a < b for a, b in zip(bpps, bpps[1:])), bpps
    assert all(a < b for a, b in zip(psnrs, psnrs[1:])), psnrs
    assert bpps[-1] > 4 * bpps[0] and psnrs[-1] > psnrs[0] + 4


@pytest.mark.parametrize("position", [0.2, 0.5, 0.85])
def test_target_bpp_is_met_within_3_percent(codec, image, ends, position):
    low_bpp, high_bpp = ends[LOW][0], ends[HIGH][0]
    target = math.exp((1 - position) * math.log(low_bpp) + position * math.log(high_bpp))
    result = codec.encode(image, target_bpp=target, lof_steps=0)
    assert result.target_met and abs(result.bpp / target - 1) <= 0.03, (target, result.bpp)
    assert result.bpp == bpp_of(result.data) and result.encodes <= 6
    assert LOW < result.quality < HIGH
    header, _ = bitstream.read_header(result.data)
    assert header.quality == result.quality  # the header records the chosen quality
    assert result.psnr == psnr_of(result.x_hat, image)
    assert codec.compress(image, target_bpp=target, lof_steps=0) == result.data  # deterministic, same bytes


def test_target_bpp_with_lof_decodes_bit_exact(codec, image, ends):
    target = math.sqrt(ends[LOW][0] * ends[HIGH][0])
    result = codec.encode(image, target_bpp=target, lof_steps=2)
    assert result.target_met and abs(result.bpp / target - 1) <= 0.03
    assert 1 < result.encodes <= MAX_ENCODES + MAX_CHEAP_ENCODES  # a cheap pass first, then LOF encodes
    assert codec.encode(image, quality=result.quality, lof_steps=2).data == result.data  # the LOF asked for
    assert torch.equal(codec.decompress(result.data), result.x_hat)


def test_target_psnr_is_reached_with_the_fewest_bits_tried(codec, image, ends):
    target = (ends[LOW][1] + ends[HIGH][1]) / 2
    probes = []

    def measure(quality: float) -> Probe:
        r = codec.encode(image, quality=quality, lof_steps=0)
        probes.append(Probe(quality, bpp_of(r.data), psnr_of(r.x_hat, image)))
        return probes[-1]

    search = search_quality(measure, Target.of(target_psnr=target), (LOW, HIGH), start=3)
    in_band = [p for p in probes if target <= p.psnr <= target + 0.15]
    assert search.met and in_band and target <= search.best.psnr
    assert search.best == min((p for p in probes if p.psnr >= target), key=lambda p: (p.bpp, -p.psnr))
    assert search.best.bpp <= min(p.bpp for p in in_band)  # above the band only at no extra bits
    assert len(probes) == search.encodes <= MAX_ENCODES
    assert len({p.quality for p in probes}) == len(probes)  # never the same quality twice

    result = codec.encode(image, target_psnr=target, lof_steps=0)
    assert (result.quality, result.psnr, result.target_met) == (search.best.quality, search.best.psnr, True)
    assert psnr_of(codec.decompress(result.data), image) == result.psnr


def test_psnr_of_a_grayscale_image_is_that_of_the_gray_output(codec):
    gray = Image.fromarray((synthetic_image(H, W, seed=3)[0].numpy() * 255).round().astype(np.uint8), "L")
    result = codec.encode(gray, target_psnr=28, lof_steps=0)
    out = np.asarray(codec.decompress_pil(result.data), dtype=np.float64)
    mse = np.mean((out - np.asarray(gray, dtype=np.float64)) ** 2)
    assert result.layout == "L" and result.psnr == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-9)
    assert result.psnr == output_psnr(result.x_hat, torch.from_numpy(np.asarray(gray) / 255.0)[None].expand(3, -1, -1),
                                      "L")


@pytest.mark.parametrize("kind, value, end", [("bpp", 0.01, LOW), ("bpp", 50.0, HIGH),
                                              ("psnr", 5.0, LOW), ("psnr", 80.0, HIGH)])
def test_a_target_out_of_reach_gives_the_nearest_end(codec, image, ends, kind, value, end):
    result = codec.encode(image, lof_steps=0, **{f"target_{kind}": value})
    assert result.target_met is False and result.quality == end and result.encodes <= 3
    assert (result.bpp, result.psnr) == ends[end]


def test_plain_encodes_report_their_quality(codec, image):
    result = codec.encode(image, quality=2.5, lof_steps=0)
    assert result.quality == 2.5 and result.target_met is None and result.bpp is None


def test_fixed_rate_codec_and_bad_arguments_are_refused(codec, image):
    torch.manual_seed(0)
    fixed = MSPCodec("lite", quality=3).eval()
    with pytest.raises(UnknownModelError, match="variable-rate"):
        fixed.encode(image, target_bpp=0.5)
    with pytest.raises(UnknownModelError, match="variable-rate"):
        fixed.compress(image, target_psnr=30)
    with pytest.raises(ValueError, match="not both"):
        codec.encode(image, quality=3, target_bpp=0.5)
    with pytest.raises(ValueError, match="exactly one"):
        codec.encode(image, target_bpp=0.5, target_psnr=30)
    for bad in (-1.0, 0, math.nan, math.inf):
        with pytest.raises(ValueError, match="positive"):
            codec.encode(image, target_bpp=bad)


# ----------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def weights(codec, tmp_path_factory):
    return save_pretrained(codec.state_dict(), codec.config, tmp_path_factory.mktemp("w") / "msp-lite-variable")


@pytest.fixture
def png(tmp_path, image):
    path = tmp_path / "in.png"
    Image.fromarray(to_uint8(image).permute(1, 2, 0).numpy()).save(path)
    return path


def run(*args) -> int:
    return main([str(a) for a in args])


def test_cli_target_bpp(tmp_path, png, weights, capsys):
    exported = load_local(weights)
    target = 0.5
    assert run("compress", png, tmp_path / "t.lic", "--weights", weights, "--target-bpp", target, "--lof-steps", 0) == 0
    out, err = capsys.readouterr()
    data = (tmp_path / "t.lic").read_bytes()
    expected = exported.encode(Image.open(png), target_bpp=target, lof_steps=0)
    assert data == expected.data and err == ""
    assert f"{len(data)} bytes, {bpp_of(data):.4f} bpp, {expected.psnr:.2f} dB PSNR-RGB" in out
    assert f"q{expected.quality:g}; target 0.5 bpp met" in out and abs(bpp_of(data) / target - 1) <= 0.03
    assert run("decompress", tmp_path / "t.lic", tmp_path / "t.png", "--weights", weights) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "t.png")),
                          to_uint8(expected.x_hat).permute(1, 2, 0).numpy())


def test_cli_float_quality_and_target_psnr(tmp_path, png, weights, capsys):
    assert run("compress", png, tmp_path / "q.lic", "--weights", weights, "--quality", "2.5", "--lof-steps", 0) == 0
    assert "(msp-lite q2.5)" in capsys.readouterr().out
    assert run("info", tmp_path / "q.lic") == 0
    assert "quality 2.5" in capsys.readouterr().out
    assert run("compress", png, tmp_path / "p.lic", "--weights", weights, "--target-psnr", 31, "--lof-steps", 0) == 0
    expected = load_local(weights).encode(Image.open(png), target_psnr=31, lof_steps=0)
    out, err = capsys.readouterr()
    assert (tmp_path / "p.lic").read_bytes() == expected.data and expected.psnr >= 31
    assert f"{expected.psnr:.2f} dB PSNR-RGB (msp-lite q{expected.quality:g}; target 31 dB PSNR " \
           f"{'met' if expected.target_met else 'not met'}" in out
    assert (err == "") == expected.target_met


def test_cli_target_out_of_reach_writes_the_nearest_with_a_note(tmp_path, png, weights, capsys):
    assert run("compress", png, tmp_path / "o.lic", "--weights", weights, "--target-bpp", 0.001, "--lof-steps", 0) == 0
    out, err = capsys.readouterr()
    assert (tmp_path / "o.lic").exists() and "not met" in out
    assert err.count("\n") == 1 and err.startswith("lic-zoo compress: note: target 0.001 bpp is out of")
    assert "lowest quality" in err


def test_cli_refuses_targets_it_cannot_serve(tmp_path, png, weights, capsys):
    torch.manual_seed(0)
    fixed = MSPCodec("lite", quality=2)
    fixed_weights = save_pretrained(fixed.state_dict(), fixed.config, tmp_path / "fixed")
    assert run("compress", png, tmp_path / "f.lic", "--weights", fixed_weights, "--target-bpp", 0.5) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "variable-rate" in err and not (tmp_path / "f.lic").exists()
    for extra in (["--quality", "3", "--target-bpp", "0.5"], ["--target-bpp", "0.5", "--target-psnr", "30"],
                  ["--target-bpp", "-1"], ["--quality", "x"]):
        with pytest.raises(SystemExit) as exit_info:
            run("compress", png, tmp_path / "u.lic", "--weights", weights, *extra)
        assert exit_info.value.code == 2, extra
    assert not (tmp_path / "u.lic").exists()
