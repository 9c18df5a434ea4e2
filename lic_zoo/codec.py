"""The MSP codec: a plain ``nn.Module`` (no Lightning) that trains, compresses and decompresses images."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from .coding import bitstream
from .coding.bitstream import Header, Limits
from .coding.digest import state_dict_digest
from .coding.entropy_coding import FACTORIZED_HALF_RANGE, GAUSSIAN_HALF_RANGE, Decoder, Encoder
from .errors import ModelMismatchError, UnknownModelError
from .image_io import as_image_tensor, tensor_to_pil
from .lof import LOF_LR, overfit_latent
from .model.entropy_models import scale_indices
from .model.msp import Gains, MSPEntropyModel, Step, subsample, with_gains
from .model.profiles import Profile, get_profile
from .model.rate import CodingGains, GainUnits, LAMBDAS, lambda_for, snap_quality
from .model.tiling import Tiling, analyse_tiled, synthesize_tiled
from .model.transforms import AnalysisTransform, SynthesisTransform, latent_shape, pad_to_stride

CONFIG_FORMAT = 2  # 2: variable-rate codecs ("qualities"); 1 had fixed-rate ones only


@dataclass
class MSPOutput:
    """What a trainer needs from one forward pass over a batch."""

    x_hat: Tensor  # (B, 3, H, W) reconstruction, not clamped
    bits: Tensor  # (B,) estimated code length of each image in bits
    likelihoods: list[Tensor]  # per decoding step (factorised scale first), each (B, n_elements)
    y: Tensor  # latent before quantisation
    y_hat: Tensor  # latent as the decoder sees it


@dataclass
class EncodeResult:
    """A compressed image together with what the decoder will reconstruct from it."""

    data: bytes
    x_hat: Tensor  # (3, H, W) in [0, 1]: exactly what decompress(data) returns
    layout: str
    quality: float | None = None  # the quality coded (the header's)
    # Set by a target search (encode(target_bpp=...) / encode(target_psnr=...), lic_zoo.rate_control), else None:
    bpp: float | None = None  # reached: 8 * len(data) / (H * W)
    psnr: float | None = None  # reached: PSNR-RGB in dB of the 8-bit output
    target_met: bool | None = None  # False: out of reach (or not within the tolerance); the closest point tried
    encodes: int = 1  # encodes run to produce this result


class MSPCodec(nn.Module):
    """Autoencoder with a multi-scale progressive (MSP) probability model.

    Images are float tensors (3, H, W) in [0, 1] (or (1, H, W), or PIL images); any size, no padding by the
    caller. :meth:`decompress` returns a tensor (3, H, W) in [0, 1] of the transforms' float type;
    :meth:`decompress_pil` an 8-bit PIL image in the original layout (RGB or L).
    """

    def __init__(self, profile: Profile | str = "lite", *, metric: str = "mse", quality: float = 3,
                 lmbda: float | None = None, qualities: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.metric = metric
        self.qualities = None if qualities is None else (int(qualities[0]), int(qualities[1]))
        self._fixed_lmbda = lmbda
        self.g_a = AnalysisTransform(self.profile.width, self.profile.latent_channels, self.profile.transform_blocks)
        self.g_s = SynthesisTransform(self.profile.width, self.profile.latent_channels, self.profile.transform_blocks)
        self.gains = (None if self.qualities is None else
                      GainUnits(*self.qualities, self.profile.latent_channels, LAMBDAS[metric]))
        self.entropy = MSPEntropyModel(self.profile, conditioned=self.gains is not None)
        self.quality = quality
        self.limits = Limits()  # callers may replace these two
        self.tiling = Tiling()

    # ----------------------------------------------------------------- identity
    @property
    def model_name(self) -> str:
        return self.profile.model_name

    @property
    def variable_rate(self) -> bool:
        """Whether this codec serves a continuous range of qualities (:attr:`qualities`) with gain units."""
        return self.gains is not None

    @property
    def quality(self) -> float:
        """The quality :meth:`compress` uses by default; a variable-rate codec takes any in :attr:`qualities`."""
        return self._quality

    @quality.setter
    def quality(self, value: float) -> None:
        self._quality = self.check_quality(value)

    def check_quality(self, quality: float) -> float:
        """``quality`` on the stored 1/1000 grid; :class:`UnknownModelError` if this codec does not serve it."""
        snapped = snap_quality(quality)
        if self.qualities is None:
            if hasattr(self, "_quality") and snapped != self._quality:
                raise UnknownModelError(f"this fixed-rate codec serves quality {self._quality} only, not {quality}")
        elif not self.qualities[0] <= snapped <= self.qualities[1]:
            raise UnknownModelError(f"quality {quality} is outside this codec's range "
                                    f"{self.qualities[0]}..{self.qualities[1]}")
        return snapped

    @property
    def lmbda(self) -> float:
        """The rate-distortion lambda of :attr:`quality`."""
        return self.lmbda_at(self.quality)

    def lmbda_at(self, quality: float) -> float:
        """The rate-distortion lambda this codec was trained for at ``quality``."""
        if self._fixed_lmbda is not None and self.qualities is None:
            return self._fixed_lmbda
        return lambda_for(self.metric, quality)

    @property
    def config(self) -> dict:
        """Everything needed to rebuild this codec with :meth:`from_config`."""
        return {"format": CONFIG_FORMAT, "model": self.model_name, "profile": self.profile.to_dict(),
                "metric": self.metric, "quality": self.quality, "qualities": self.qualities,
                "lmbda": self._fixed_lmbda}

    @classmethod
    def from_config(cls, config: dict) -> "MSPCodec":
        return cls(Profile.from_dict(config["profile"]), metric=config["metric"], quality=config["quality"],
                   lmbda=config.get("lmbda"), qualities=config.get("qualities"))

    @property
    def sequential_steps(self) -> int:
        """Sequential context-network calls per decode: the profile's constant, whatever the image size."""
        return len(self.entropy.schedule)

    def weights_digest(self) -> bytes:
        """The digest written into every stream (first bytes of :func:`state_dict_digest`)."""
        return bytes.fromhex(state_dict_digest(self.state_dict()))[: bitstream.DIGEST_BYTES]

    def aux_loss(self) -> Tensor:
        """Loss that fits the factorised density's quantiles (optimise it separately)."""
        return self.entropy.factorized.aux_loss()

    # ----------------------------------------------------------------- gains
    def batch_gains(self, quality: Tensor) -> tuple[Gains, Tensor]:
        """Training-time gains of a batch of (B,) qualities and the inverse gains (B, C, 1, 1) for synthesis."""
        channels = self.profile.latent_channels
        if self.gains is None:
            unit = Gains.unit(quality.shape[0], channels, quality.float())
            return unit, unit.gain
        log_gain, log_inverse, feature = self.gains(quality)
        log_gain = log_gain[..., None, None]
        return Gains(torch.exp(log_gain), log_gain, feature), torch.exp(log_inverse)[..., None, None]

    def coding_gains(self, quality: float | None = None) -> tuple[Gains, Tensor]:
        """Coding-time gains of one quality (default :attr:`quality`): float64, bit-identical on every platform."""
        quality = self.quality if quality is None else self.check_quality(quality)
        device, channels = self._device(), self.profile.latent_channels
        if self.gains is None:
            unit = Gains.unit(1, channels, torch.zeros((), dtype=torch.float64, device=device))
            return unit, unit.gain
        coding: CodingGains = self.gains.coding_gains(quality)
        feature = torch.tensor([coding.feature], dtype=torch.float64, device=device)
        return (Gains(coding.gain.to(device).view(1, -1, 1, 1), coding.log_gain.to(device).view(1, -1, 1, 1), feature),
                coding.inverse_gain.to(device).view(1, -1, 1, 1))

    # ----------------------------------------------------------------- training
    def forward(self, x: Tensor, *, quality: Tensor | None = None, noise: bool | None = None) -> MSPOutput:
        """(B, 3, H, W) in [0, 1] -> reconstruction and estimated rate, over the decoder's step schedule.

        ``quality`` (B,) gives each image its own quality (default: :attr:`quality` for all). Rates use additive
        noise when ``noise`` (default: in training mode), else rounding.
        """
        if quality is None:
            quality = torch.full((x.shape[0],), float(self.quality), device=x.device)
        gains, inverse_gain = self.batch_gains(quality)
        y = self.g_a(pad_to_stride(x)) * gains.gain.to(x.dtype)
        out = self.estimate(y, gains, inverse_gain, tuple(x.shape[-2:]), noise=noise)
        out.y = y
        return out

    def estimate(self, y: Tensor, gains: Gains, inverse_gain: Tensor, size: tuple[int, int], *,
                 noise: bool | None = None) -> MSPOutput:
        """Estimated bits and the cropped reconstruction of a gained latent ``y``: the training and LOF pass."""
        with torch.autocast(device_type=y.device.type, enabled=False):  # rates in float32 under mixed precision
            y_hat, likelihoods = self.entropy(y.float(), gains, noise=noise)
        x_hat = self.g_s(y_hat * inverse_gain.to(y_hat))[..., : size[0], : size[1]]
        bits = sum(-torch.log2(lik).sum(dim=1) for lik in likelihoods)
        return MSPOutput(x_hat, bits, likelihoods, y, y_hat)

    # ----------------------------------------------------------------- coding
    def lof_budget(self, height: int, width: int, lof_steps: int | None = None) -> int:
        """The latent-overfitting steps :meth:`encode` runs on a ``height`` x ``width`` image: ``lof_steps``, or
        by default the profile's budget (none for images large enough to be tiled)."""
        if lof_steps is None:  # the profile's budget, for images small enough to run untiled
            lof_steps = 0 if self.tiling.applies(height, width) else self.profile.lof_steps
        if lof_steps < 0:
            raise ValueError(f"lof_steps must be >= 0, got {lof_steps}")
        return lof_steps

    @torch.no_grad()
    def encode(self, image: Tensor | Image.Image, *, quality: float | None = None, lof_steps: int | None = None,
               lof_lr: float = LOF_LR, lof_seconds: float | None = None, progress: bool = False,
               target_bpp: float | None = None, target_psnr: float | None = None,
               target_tolerance: float | None = None) -> EncodeResult:
        """Compress one image at ``quality`` (default :attr:`quality`); also returns the decoder's reconstruction.

        ``lof_steps`` latent-overfitting steps (default: the profile's budget, or none for images large enough to
        be tiled, whose LOF memory would grow with the image; 0 disables), optionally capped at ``lof_seconds``;
        see :mod:`lic_zoo.lof`. LOF never makes the result worse and needs no decoder change.

        ``target_bpp`` (bits per pixel of the whole file) or ``target_psnr`` (PSNR-RGB in dB of the 8-bit output),
        instead of ``quality``: a variable-rate codec searches its quality range with a few real encodes, with
        the same LOF options (:func:`lic_zoo.rate_control.encode_to_target`; ``target_tolerance``: relative for
        bpp, default 3 %, dB above the target for PSNR, default 0.15). The result says what was reached and
        whether the target was met. A fixed-rate codec raises :class:`UnknownModelError`.
        """
        if target_bpp is not None or target_psnr is not None:
            if quality is not None:
                raise ValueError("give either quality or a target (target_bpp / target_psnr), not both")
            from .rate_control import encode_to_target

            return encode_to_target(self, image, target_bpp=target_bpp, target_psnr=target_psnr,
                                    tolerance=target_tolerance, lof_steps=lof_steps, lof_lr=lof_lr,
                                    lof_seconds=lof_seconds, progress=progress)
        quality = self.quality if quality is None else self.check_quality(quality)
        x, layout = as_image_tensor(image)
        height, width = x.shape[-2:]
        self.limits.check(height, width)
        x = x[None].to(self._device(), self._dtype())
        y = self.analyse(x, quality, progress)
        lof_steps = self.lof_budget(height, width, lof_steps)
        if lof_steps > 0:
            y = overfit_latent(self, x, y, quality=quality, steps=lof_steps, lr=lof_lr, seconds=lof_seconds,
                               progress=progress).y
        y_hat, substreams = self.encode_latent(y, quality)
        header = Header(self.model_name, self.metric, quality, self.weights_digest(), height, width, layout)
        x_hat = self.synthesize(y_hat, height, width, quality, progress)
        return EncodeResult(bitstream.pack(header, substreams), x_hat, layout, quality)

    def compress(self, image: Tensor | Image.Image, *, quality: float | None = None, lof_steps: int | None = None,
                 target_bpp: float | None = None, target_psnr: float | None = None, **options) -> bytes:
        """Compress one image to the bytes of a .lic file (see :meth:`encode` for the options and the targets;
        :meth:`encode` also tells which quality a target search chose and what it reached)."""
        return self.encode(image, quality=quality, lof_steps=lof_steps, target_bpp=target_bpp,
                           target_psnr=target_psnr, **options).data

    @torch.no_grad()
    def decompress(self, data: bytes, *, limits: Limits | None = None, progress: bool = False) -> Tensor:
        """Decode a .lic stream made by this codec (same model and weights) to a (3, H, W) tensor in [0, 1].

        The quality comes from the header. The header is checked against ``limits`` (default: :attr:`limits`)
        before anything is allocated.
        """
        return self._decode(data, limits, progress)[0]

    def decompress_pil(self, data: bytes, *, limits: Limits | None = None, progress: bool = False) -> Image.Image:
        """Decode to an 8-bit PIL image in the stream's original layout (RGB or L)."""
        x_hat, header = self._decode(data, limits, progress)
        return tensor_to_pil(x_hat, header.layout)

    @torch.no_grad()
    def _decode(self, data: bytes, limits: Limits | None, progress: bool) -> tuple[Tensor, Header]:
        header, reader = bitstream.read_header(data, self.limits if limits is None else limits)
        self.check_stream_header(header)
        substreams = bitstream.read_substreams(reader, self.profile.scales + 1)
        y_hat = self.decode_latent(substreams, latent_shape(header.height, header.width), header.quality)
        return self.synthesize(y_hat, header.height, header.width, header.quality, progress), header

    def check_stream_header(self, header: Header) -> None:
        """Refuse a stream made by another model, metric, quality range or weights version."""
        if (header.model, header.metric) != (self.model_name, self.metric):
            raise ModelMismatchError(
                f"stream was made by {header.model} ({header.metric}), "
                f"not by this codec {self.model_name} ({self.metric})"
            )
        if header.digest != self.weights_digest():
            raise ModelMismatchError(
                f"stream was made by {header.model} weights {header.digest.hex()}, "
                f"but this codec has weights {self.weights_digest().hex()}"
            )
        try:
            self.check_quality(header.quality)
        except UnknownModelError as exc:
            raise ModelMismatchError(f"stream quality {header.quality}: {exc}") from None

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _dtype(self) -> torch.dtype:
        """The transforms' float type (float32 normally; float64 after ``.double()``)."""
        return next(self.g_s.parameters()).dtype

    # ----------------------------------------------------------------- the latent layer
    def analyse(self, x: Tensor, quality: float | None = None, progress: bool = False) -> Tensor:
        """The gained latent (1, C, h, w) of a (1, 3, H, W) image at ``quality``; g_a tiled above :attr:`tiling`."""
        gains, _ = self.coding_gains(quality)
        tiled = self.tiling.applies(*x.shape[-2:])
        x = pad_to_stride(x)
        if tiled:
            y = analyse_tiled(self.g_a, x, self.tiling, self.profile.latent_channels, progress=progress)
        else:
            y = self.g_a(x)
        return y * gains.gain.to(y.dtype)

    def synthesize(self, y_hat: Tensor, height: int, width: int, quality: float | None = None,
                   progress: bool = False) -> Tensor:
        """The (3, height, width) reconstruction in [0, 1] of a decoded (1, C, h, w) gained latent; tiled like
        :meth:`analyse`."""
        _, inverse_gain = self.coding_gains(quality)
        y_hat = (y_hat * inverse_gain).to(self._dtype())
        if self.tiling.applies(height, width):
            x_hat = synthesize_tiled(self.g_s, y_hat, self.tiling, progress=progress)
        else:
            x_hat = self.g_s(y_hat)
        return x_hat[0, :, :height, :width].clamp(0, 1)

    # Substream 0 holds the factorised scale; substream 1 + i holds context scale S - 1 - i.
    def _substream_of(self, step: Step) -> int:
        return self.profile.scales - step.scale

    def _factorized_tables(self, gains: Gains) -> tuple[Tensor, np.ndarray, np.ndarray, np.ndarray]:
        gain = gains.gain.flatten().cpu()
        medians = self.entropy.coding_medians(gain)
        low, pmf = self.entropy.factorized.coding_tables(medians, FACTORIZED_HALF_RANGE, gain)
        high = low + (pmf > 0).cumsum(1).argmax(1)
        return medians, low, high, pmf

    def encode_latent(self, y: Tensor, quality: float | None = None) -> tuple[Tensor, list[bytes]]:
        """Entropy-code a gained latent (1, C, h, w): the decoded latent and one substream per scale.

        The decoded latent is what :meth:`decode_latent` returns for those substreams, bit for bit.
        """
        y = y.to(torch.float64)
        gains, _ = self.coding_gains(quality)
        encoders = [Encoder() for _ in range(self.profile.scales + 1)]
        coarse = subsample(y, self.profile.scales)
        medians, low, high, pmf = self._factorized_tables(gains)
        medians = medians.to(y)[None, :, None, None]
        channel_low = torch.from_numpy(low).to(y)[None, :, None, None]
        channel_high = torch.from_numpy(high).to(y)[None, :, None, None]
        offsets = torch.maximum(torch.minimum(torch.round(coarse - medians), channel_high), channel_low)
        encoders[0].factorized((offsets - channel_low).cpu().numpy(), pmf)
        targets = {s: subsample(y, s) for s in range(self.profile.scales)}

        def step_fn(step: Step, mean: Tensor, log_scale: Tensor) -> Tensor:
            residual = torch.round(targets[step.scale][step.index()] - mean)
            symbols = residual.clamp(-GAUSSIAN_HALF_RANGE, GAUSSIAN_HALF_RANGE)
            encoders[self._substream_of(step)].gaussian(symbols.cpu().numpy(), scale_indices(log_scale).cpu().numpy())
            return symbols + mean

        y_hat = self.entropy.traverse(offsets + medians, tuple(y.shape[-2:]), self._exact_context(gains), step_fn)
        return y_hat, [e.finish() for e in encoders]

    def decode_latent(self, substreams: list[bytes], latent_shape: tuple[int, int],
                      quality: float | None = None) -> Tensor:
        """The gained latent (1, C, h, w) of :meth:`encode_latent`'s substreams, in float64."""
        device = self._device()
        gains, _ = self.coding_gains(quality)
        decoders = [Decoder(s) for s in substreams]
        c = self.profile.latent_channels
        coarse_shape = (1, c, latent_shape[0] >> self.profile.scales, latent_shape[1] >> self.profile.scales)
        medians, low, _, pmf = self._factorized_tables(gains)
        symbols = decoders[0].factorized(pmf, coarse_shape[2] * coarse_shape[3])
        offsets = torch.from_numpy(symbols).to(device, torch.float64).reshape(coarse_shape)
        coarse = offsets + torch.from_numpy(low).to(device, torch.float64)[None, :, None, None]
        coarse = coarse + medians.to(device)[None, :, None, None]

        def step_fn(step: Step, mean: Tensor, log_scale: Tensor) -> Tensor:
            indices = scale_indices(log_scale)
            decoded = decoders[self._substream_of(step)].gaussian(indices.cpu().numpy())
            return torch.from_numpy(decoded).to(mean).reshape(mean.shape) + mean

        y_hat = self.entropy.traverse(coarse, latent_shape, self._exact_context(gains), step_fn)
        for decoder in decoders:
            decoder.check_exhausted()
        return y_hat

    def _exact_context(self, gains: Gains):
        return with_gains(self.entropy.context.exact(), gains, self.profile.latent_channels)

