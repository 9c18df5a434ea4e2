"""The codec core: exact round trips, the constant step count, rate accuracy, typed errors."""
from __future__ import annotations

import copy

import pytest
import torch
from PIL import Image

import lic_zoo
from lic_zoo import (
    CorruptStreamError,
    LicZooError,
    LimitExceededError,
    Limits,
    ModelMismatchError,
    MSPCodec,
    UnknownModelError,
    UnsupportedInputError,
    WeightsUnavailableError,
)
from lic_zoo.model.context import ExactContextNetwork

from codec_helpers import synthetic_image

PROFILES = ("lite", "base", "extra")


@pytest.fixture(scope="module")
def random_codecs() -> dict[str, MSPCodec]:
    torch.manual_seed(0)
    return {p: MSPCodec(p).eval() for p in PROFILES}


@pytest.fixture(scope="module")
def trained_codecs(trained_codec) -> dict[str, MSPCodec]:
    return {p: trained_codec(p) for p in PROFILES}


def assert_round_trip(codec: MSPCodec, image: torch.Tensor) -> bytes:
    result = codec.encode(image)
    decoded = codec.decompress(result.data)
    assert decoded.shape == image.shape
    assert torch.equal(decoded, result.x_hat), "decoder disagrees with the encoder's prediction"
    return result.data


# Every profile at odd sizes; the largest images with lite only (the transforms dominate and are shared code).
CASES = [(p, size) for p in PROFILES for size in [(1, 1), (17, 33), (75, 131)]] + [
    ("lite", (500, 375)), ("lite", (768, 512)), ("base", (500, 375))]


@pytest.mark.parametrize("profile,size", CASES)
def test_round_trip_random_init(random_codecs, profile, size):
    assert_round_trip(random_codecs[profile], synthetic_image(*size, seed=1))


@pytest.mark.parametrize("profile,size", CASES + [("lite", (2048, 1152))])
def test_round_trip_trained(trained_codecs, profile, size):
    assert_round_trip(trained_codecs[profile], synthetic_image(*size, seed=2))


class CountingContext:
    """Counts calls of the fixed-point context network (what the decoder runs).

    With ``compute=False`` each call returns zeros of the right shape instead of running the convolutions:
    the decoding loop, the entropy coder and the count stay real, the 2K test of the big profiles stays fast.
    """

    def __init__(self, monkeypatch, compute: bool = True):
        self.calls = 0
        original = ExactContextNetwork.__call__

        def counted(net, x):
            self.calls += 1
            return original(net, x) if compute else net._net._empty(x.to(torch.float64))

        monkeypatch.setattr(ExactContextNetwork, "__call__", counted)


@pytest.mark.parametrize("profile", PROFILES)
def test_sequential_steps_do_not_grow_with_image_size(random_codecs, profile, monkeypatch):
    codec = random_codecs[profile]
    counter = CountingContext(monkeypatch, compute=profile == "lite")
    expected = {"lite": 6, "base": 18, "extra": 36}[profile]
    assert codec.sequential_steps == expected == codec.profile.context_calls
    for height, width in [(64, 64), (2048, 1152)]:
        # The latent of an image this size; the transforms are not what is counted.
        y = torch.randn(1, codec.profile.latent_channels, height // 16, width // 16, dtype=torch.float64) * 3
        _, substreams = codec.encode_latent(y)
        counter.calls = 0
        codec.decode_latent(substreams, (height // 16, width // 16))
        assert counter.calls == expected, (height, width)


def test_full_decode_counts_the_same_steps(random_codecs, monkeypatch):
    codec = random_codecs["lite"]
    counter = CountingContext(monkeypatch)
    data = codec.compress(synthetic_image(64, 64))
    counter.calls = 0
    codec.decompress(data)
    assert counter.calls == codec.sequential_steps


@pytest.mark.parametrize("profile", ["lite", "base"])
def test_file_size_matches_estimated_bits(trained_codecs, profile):
    codec = trained_codecs[profile]
    image = synthetic_image(256, 384, seed=5)
    with torch.no_grad():
        estimate = codec(image[None]).bits.item()
    data = codec.compress(image, lof_steps=0)
    header_bytes = len(data) - sum(map(len, _substreams(codec, data)))
    payload_bits = 8 * (len(data) - header_bytes)
    assert abs(payload_bits - estimate) <= 0.01 * estimate + 8 * 4 * (codec.profile.scales + 1), (payload_bits, estimate)


@pytest.mark.parametrize("profile", ["lite", "base"])
def test_fixed_point_context_costs_little_rate(trained_codecs, profile):
    """The coding-time (fixed-point) context network predicts nearly what the float one does."""
    codec = trained_codecs[profile]
    with torch.no_grad():
        y = codec.g_a(synthetic_image(256, 384, seed=6)[None]).to(torch.float64)
        rates = {}
        float_context = copy.deepcopy(codec.entropy.context).double()
        for name, context in (("float", float_context), ("fixed", codec.entropy.context.exact())):
            _, likelihoods = codec.entropy(y, codec.coding_gains()[0], noise=False, context=context)
            rates[name] = sum(-torch.log2(lik).sum() for lik in likelihoods).item()
    assert rates["fixed"] != rates["float"]  # really the other network
    assert abs(rates["fixed"] / rates["float"] - 1) < 0.005, rates


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_gdn_coding_path_equals_training_path(inverse, channels_last):
    """Without autograd GDN writes its output into its normaliser's memory; the values must not change."""
    from lic_zoo.model.transforms import SimplifiedGDN

    torch.manual_seed(3)
    gdn = SimplifiedGDN(8, inverse=inverse)
    with torch.no_grad():
        gdn.gamma.mul_(torch.rand_like(gdn.gamma) + 0.5)
    x = torch.randn(2, 8, 5, 7)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    trained = gdn(x)
    with torch.no_grad():
        coded = gdn(x)
    assert trained.requires_grad and not coded.requires_grad
    assert torch.equal(trained, coded)
    assert not torch.equal(x, coded)


@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1), (5, 9), (2, 33)])
def test_exact_convolution_equals_float64_conv2d(kernel, shape):
    """The tap-by-tap matrix products give the integers float64 conv2d gives, at the largest allowed magnitudes."""
    from lic_zoo.model.context import ACT_LIMIT, _ExactConv

    conv = torch.nn.Conv2d(11, 6, kernel, padding=kernel // 2)
    exact = _ExactConv(conv)
    generator = torch.Generator().manual_seed(kernel * 100 + shape[0] * 10 + shape[1])
    x = torch.randint(-int(ACT_LIMIT), int(ACT_LIMIT) + 1, (2, 11, *shape), generator=generator).double()
    weight = exact.taps.view(kernel, kernel, 6, 11).permute(2, 3, 0, 1)
    expected = torch.nn.functional.conv2d(x, weight, exact.bias, padding=kernel // 2)
    expected = torch.round(expected * exact.inv_mult).clamp(-ACT_LIMIT, ACT_LIMIT)
    assert torch.equal(exact(x), expected)


def test_fixed_point_refuses_sums_beyond_exact_float64():
    from lic_zoo.model.context import ContextNetwork

    with pytest.raises(ValueError, match="exact integer range"):
        ContextNetwork(latent_channels=4000, num_groups=1, width=8, blocks=0, hidden=0).exact()


def _substreams(codec: MSPCodec, data: bytes) -> list[bytes]:
    header, reader = lic_zoo.coding.bitstream.read_header(data)
    return lic_zoo.coding.bitstream.read_substreams(reader, codec.profile.scales + 1)


def test_training_forward_returns_rate_per_step(random_codecs):
    codec = random_codecs["base"]
    codec.train()
    try:
        x = synthetic_image(48, 80)[None].repeat(2, 1, 1, 1)
        out = codec(x)
    finally:
        codec.eval()
    assert out.x_hat.shape == x.shape
    assert out.bits.shape == (2,)
    assert len(out.likelihoods) == 1 + codec.sequential_steps
    assert sum(lik.shape[1] for lik in out.likelihoods) == out.y.numel() // 2  # every element coded once
    assert out.x_hat.requires_grad and out.bits.requires_grad


def test_pil_and_grayscale_inputs(random_codecs):
    codec = random_codecs["lite"]
    rgb = synthetic_image(40, 56)
    pil = Image.fromarray((rgb.permute(1, 2, 0).numpy() * 255).round().astype("uint8"))
    assert codec.decompress(codec.compress(pil)).shape == (3, 40, 56)
    gray = codec.compress(rgb[:1])
    assert codec.decompress_pil(gray).mode == "L"
    assert codec.decompress_pil(codec.compress(pil.convert("L"))).mode == "L"


# ------------------------------------------------------------------ errors
def test_every_error_derives_from_the_base_class():
    for cls in (CorruptStreamError, ModelMismatchError, UnsupportedInputError, LimitExceededError,
                UnknownModelError, WeightsUnavailableError):
        assert issubclass(cls, LicZooError)


@pytest.fixture(scope="module")
def stream(random_codecs) -> bytes:
    return random_codecs["lite"].compress(synthetic_image(64, 96, seed=7))


def test_truncated_stream(random_codecs, stream):
    for cut in (0, 3, 10, len(stream) // 2, len(stream) - 1):
        with pytest.raises(CorruptStreamError):
            random_codecs["lite"].decompress(stream[:cut])


def test_bit_flips_are_reported_as_corruption(random_codecs, stream):
    for pos in range(5, len(stream), max(1, len(stream) // 25)):
        damaged = bytearray(stream)
        damaged[pos] ^= 0x10
        with pytest.raises(CorruptStreamError):
            random_codecs["lite"].decompress(bytes(damaged))


def test_not_a_stream(random_codecs):
    with pytest.raises(CorruptStreamError, match="magic"):
        random_codecs["lite"].decompress(b"\x89PNG\r\n\x1a\n" + bytes(100))


def test_stream_from_other_weights_or_model(random_codecs, stream):
    torch.manual_seed(123)
    with pytest.raises(ModelMismatchError, match="weights"):
        MSPCodec("lite").eval().decompress(stream)
    with pytest.raises(ModelMismatchError, match="msp-lite"):
        random_codecs["base"].decompress(stream)
    same_weights_other_quality = MSPCodec("lite", quality=4).eval()
    same_weights_other_quality.load_state_dict(random_codecs["lite"].state_dict())
    with pytest.raises(ModelMismatchError, match="stream quality 3: this fixed-rate codec serves quality 4 only"):
        same_weights_other_quality.decompress(stream)


def test_unknown_model_or_quality():
    with pytest.raises(UnknownModelError, match="msp-lite"):
        lic_zoo.load("msp-huge", quality=3)
    with pytest.raises(UnknownModelError, match="quality"):
        lic_zoo.load("msp-lite", quality=42)
    with pytest.raises(UnknownModelError, match="metric"):
        lic_zoo.load("msp-lite", quality=3, metric="lpips")


def test_load_fresh_codec():
    codec = lic_zoo.load("msp-base", quality=2, pretrained=False)
    assert (codec.profile.name, codec.quality, codec.lmbda, codec.training) == ("base", 2, 0.0035, False)


@pytest.mark.parametrize("bad", [torch.zeros(4, 8, 8), torch.zeros(8, 8), torch.zeros(3, 0, 5),
                                 torch.zeros(3, 8, 8, dtype=torch.uint8), torch.full((3, 4, 4), float("nan")),
                                 "image.png"])
def test_unsupported_inputs(random_codecs, bad):
    with pytest.raises(UnsupportedInputError):
        random_codecs["lite"].compress(bad)


def test_limits_are_checked_before_work(random_codecs, stream):
    codec = MSPCodec("lite").eval()
    codec.limits = Limits(max_pixels=1000)
    with pytest.raises(LimitExceededError):
        codec.compress(synthetic_image(40, 40))
    with pytest.raises(LimitExceededError):
        lic_zoo.coding.bitstream.read_header(stream, Limits(max_pixels=100))
