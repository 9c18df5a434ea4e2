"""Variable rate: one codec for a continuous range of qualities (gain units), stored exactly in the stream."""
from __future__ import annotations

import pytest
import torch

import lic_zoo
from lic_zoo import CHECKPOINTS, ModelMismatchError, MSPCodec, UnknownModelError
from lic_zoo.coding import bitstream
from lic_zoo.model.rate import LAMBDAS, lambda_for, snap_quality
from lic_zoo.training.export import load_into_codec
from lic_zoo.zoo import load_checkpoint
from lic_zoo.zoo.weights_source import resolve_weights

from codec_helpers import synthetic_image


def fixed_rate_q3() -> MSPCodec:
    """The fixed-rate quality-3 checkpoint of the first zoo (still registered, for decoding its files)."""
    return load_checkpoint(next(c for c in CHECKPOINTS if c.id == "msp-lite-mse-q3"))


@pytest.fixture(scope="module")
def variable_codec() -> MSPCodec:
    torch.manual_seed(0)
    return MSPCodec("lite", quality=3, qualities=(0, 8)).eval()


@pytest.mark.parametrize("quality", [0, 0.5, 2.25, 3, 7.999, 8])
def test_every_quality_round_trips_bit_exactly_and_the_header_records_it(variable_codec, quality):
    result = variable_codec.encode(synthetic_image(48, 72, seed=2), quality=quality, lof_steps=2)
    header, _ = bitstream.read_header(result.data)
    assert header.quality == quality and result.data[len(bitstream.MAGIC)] == bitstream.VERSION == 4
    assert torch.equal(variable_codec.decompress(result.data), result.x_hat)  # the quality comes from the header


def test_rate_grows_with_quality_and_fractional_qualities_lie_between(variable_codec):
    image = synthetic_image(64, 96, seed=3)
    sizes = [len(variable_codec.compress(image, quality=q, lof_steps=0)) for q in (0, 2, 2.5, 3, 5, 8)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1], sizes


def test_qualities_live_on_a_1_in_1000_grid_inside_the_codec_range(variable_codec):
    assert snap_quality(2.0004) == 2 and isinstance(snap_quality(2.0004), int) and snap_quality(2.1236) == 2.124
    image = synthetic_image(32, 32)
    assert variable_codec.compress(image, quality=2.0004, lof_steps=0) == variable_codec.compress(image, quality=2,
                                                                                                  lof_steps=0)
    for bad in (-0.5, 8.5):
        with pytest.raises(UnknownModelError, match="outside this codec's range 0..8"):
            variable_codec.compress(image, quality=bad)
    with pytest.raises(UnknownModelError, match="must be a number"):
        variable_codec.compress(image, quality=float("nan"))


def test_lambda_interpolates_the_ladder_geometrically():
    assert [lambda_for("mse", q) for q in LAMBDAS["mse"]] == list(LAMBDAS["mse"].values())
    assert lambda_for("mse", 2.5) == pytest.approx((LAMBDAS["mse"][2] * LAMBDAS["mse"][3]) ** 0.5)


def test_a_fixed_rate_checkpoint_warm_starts_the_variable_rate_codec_unchanged_at_its_quality():
    """widen_to_variable_rate: gains start at 1 at the reference quality 3 and the context network's quality input
    has zero weight, so the warm-started codec is the fixed-rate one there."""
    fixed = fixed_rate_q3()
    widened = MSPCodec("lite", quality=3, qualities=(0, 8)).eval()
    load_into_codec(widened, *resolve_weights("msp-lite-mse-q3"), source="msp-lite-mse-q3")
    image = synthetic_image(64, 64, seed=4)[None]
    with torch.no_grad():
        a, b = fixed(image), widened(image)
    assert torch.allclose(a.x_hat, b.x_hat, atol=1e-6) and torch.allclose(a.bits, b.bits, rtol=1e-5)


def test_a_variable_rate_checkpoint_starts_a_codec_with_a_longer_ladder_unchanged_at_its_qualities(variable_codec):
    """extend_ladder: the new top quality continues the last log-gain step, and the context network's quality input
    is rescaled so that the old qualities code exactly as before."""
    longer = MSPCodec("lite", quality=3, qualities=(0, 9)).eval()
    load_into_codec(longer, variable_codec.state_dict(), variable_codec.config, source="0..8")
    table = variable_codec.gains.log_gain.detach()
    assert torch.allclose(longer.gains.log_gain[9], 2 * table[8] - table[7])
    image = synthetic_image(64, 64, seed=6)[None]
    for quality in (0.0, 2.5, 8.0):
        q = torch.tensor([quality])
        with torch.no_grad():
            a, b = variable_codec(image, quality=q), longer(image, quality=q)
        assert torch.allclose(a.x_hat, b.x_hat, atol=1e-5) and torch.allclose(a.bits, b.bits, rtol=1e-4)
    result = longer.encode(synthetic_image(48, 64, seed=7), quality=9, lof_steps=0)
    assert torch.equal(longer.decompress(result.data), result.x_hat)
    for qualities in ((1, 9), (0, 7)):
        with pytest.raises(ModelMismatchError, match="serves qualities 0..8"):
            load_into_codec(MSPCodec("lite", quality=3, qualities=qualities), variable_codec.state_dict(),
                            variable_codec.config, source="0..8")
    with pytest.raises(ModelMismatchError, match=r"0..8 is a variable-rate checkpoint \(qualities 0..8\): it starts "
                       "variable-rate codecs only"):
        load_into_codec(MSPCodec("lite", quality=3), variable_codec.state_dict(), variable_codec.config, source="0..8")


def test_a_fixed_rate_codec_serves_its_one_quality_only():
    fixed = fixed_rate_q3()
    assert not fixed.variable_rate
    with pytest.raises(UnknownModelError, match="serves quality 3 only"):
        fixed.compress(synthetic_image(32, 32), quality=2.5)


def test_the_committed_warm_start_weights_load_as_a_variable_rate_codec():
    """docs/training/warm-start/: the float32 weights the next training session starts from."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "docs" / "training" / "warm-start" / "msp-lite-mse-variable"
    codec = lic_zoo.load_local(folder)
    assert codec.variable_rate and codec.qualities == (0, 9)
    result = codec.encode(synthetic_image(48, 64, seed=5), quality=1.5, lof_steps=0)
    assert torch.equal(codec.decompress(result.data), result.x_hat)
