"""The MSP codec: a plain ``nn.Module`` (no Lightning) that trains, compresses and decompresses images."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from . import bitstream
from .bitstream import Header, Limits
from .digest import state_dict_digest
from .entropy_coding import FACTORIZED_HALF_RANGE, GAUSSIAN_HALF_RANGE, Decoder, Encoder
from .entropy_models import scale_indices
from .errors import ModelMismatchError
from .image_io import as_image_tensor, tensor_to_pil
from .lof import overfit_latent
from .msp import MSPEntropyModel, Step, subsample
from .profiles import Profile, get_profile
from .registry import LAMBDAS
from .tiling import Tiling, analyse_tiled, synthesize_tiled
from .transforms import AnalysisTransform, SynthesisTransform, latent_shape, pad_to_stride

CONFIG_FORMAT = 1
LOF_LR = 0.01


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


class MSPCodec(nn.Module):
    """Autoencoder with a multi-scale progressive (MSP) probability model.

    Images are float tensors (3, H, W) in [0, 1] (or (1, H, W), or PIL images); any size, no padding by the
    caller. :meth:`decompress` returns a tensor (3, H, W) in [0, 1] of the transforms' float type;
    :meth:`decompress_pil` an 8-bit PIL image in the original layout (RGB or L).
    """

    def __init__(self, profile: Profile | str = "lite", *, metric: str = "mse", quality: int = 3,
                 lmbda: float | None = None) -> None:
        super().__init__()
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.metric = metric
        self.quality = quality
        self.lmbda = LAMBDAS[metric][quality] if lmbda is None else lmbda
        self.g_a = AnalysisTransform(self.profile.width, self.profile.latent_channels, self.profile.transform_blocks)
        self.g_s = SynthesisTransform(self.profile.width, self.profile.latent_channels, self.profile.transform_blocks)
        self.entropy = MSPEntropyModel(self.profile)
        self.limits = Limits()  # callers may replace these two
        self.tiling = Tiling()

    # ----------------------------------------------------------------- identity
    @property
    def model_name(self) -> str:
        return f"msp-{self.profile.name}"

    @property
    def config(self) -> dict:
        """Everything needed to rebuild this codec with :meth:`from_config`."""
        return {"format": CONFIG_FORMAT, "model": self.model_name, "profile": self.profile.to_dict(),
                "metric": self.metric, "quality": self.quality, "lmbda": self.lmbda}

    @classmethod
    def from_config(cls, config: dict) -> "MSPCodec":
        return cls(Profile.from_dict(config["profile"]), metric=config["metric"], quality=config["quality"],
                   lmbda=config["lmbda"])

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

    # ----------------------------------------------------------------- training
    def forward(self, x: Tensor, *, noise: bool | None = None) -> MSPOutput:
        """(B, 3, H, W) in [0, 1] -> reconstruction and estimated rate, over the decoder's step schedule.

        Rates use additive noise when ``noise`` (default: in training mode), else rounding.
        """
        height, width = x.shape[-2:]
        y = self.g_a(pad_to_stride(x))
        with torch.autocast(device_type=y.device.type, enabled=False):  # rates in float32 under mixed precision
            y_hat, likelihoods = self.entropy(y.float(), noise=noise)
        x_hat = self.g_s(y_hat)[..., :height, :width]
        bits = sum(-torch.log2(lik).sum(dim=1) for lik in likelihoods)
        return MSPOutput(x_hat, bits, likelihoods, y, y_hat)

    # ----------------------------------------------------------------- coding
    @torch.no_grad()
    def encode(self, image: Tensor | Image.Image, *, lof_steps: int | None = None, lof_lr: float = LOF_LR,
               lof_seconds: float | None = None, progress: bool = False) -> EncodeResult:
        """Compress one image; also returns the reconstruction the decoder will produce.

        ``lof_steps`` latent-overfitting steps (default: the profile's budget, or none for images large enough to
        be tiled, whose LOF memory would grow with the image; 0 disables), optionally capped at ``lof_seconds``;
        see :mod:`lic_zoo.lof`. LOF never makes the result worse and needs no decoder change.
        """
        x, layout = as_image_tensor(image)
        height, width = x.shape[-2:]
        self.limits.check(height, width)
        x = x[None].to(self._device(), self._dtype())
        y = self._analyse(x, progress)
        if lof_steps is None:  # the profile's budget, for images small enough to run untiled
            lof_steps = 0 if self.tiling.applies(height, width) else self.profile.lof_steps
        if lof_steps > 0:
            y = overfit_latent(self, x, y, steps=lof_steps, lr=lof_lr, seconds=lof_seconds, progress=progress).y
        y_hat, substreams = self._encode_latent(y.to(torch.float64))
        header = Header(self.model_name, self.metric, self.quality, self.weights_digest(), height, width, layout)
        x_hat = self._synthesize(y_hat, height, width, progress)
        return EncodeResult(bitstream.pack(header, substreams), x_hat, layout)

    def compress(self, image: Tensor | Image.Image, *, lof_steps: int | None = None, **lof_options) -> bytes:
        """Compress one image to the bytes of a .lic file (see :meth:`encode` for the LOF options)."""
        return self.encode(image, lof_steps=lof_steps, **lof_options).data

    @torch.no_grad()
    def decompress(self, data: bytes, *, limits: Limits | None = None, progress: bool = False) -> Tensor:
        """Decode a .lic stream made by this codec (same model and weights) to a (3, H, W) tensor in [0, 1].

        The header is checked against ``limits`` (default: :attr:`limits`) before anything is allocated.
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
        y_hat = self._decode_latent(substreams, latent_shape(header.height, header.width))
        return self._synthesize(y_hat, header.height, header.width, progress), header

    def check_stream_header(self, header: Header) -> None:
        """Refuse a stream made by another model, quality or weights version."""
        if (header.model, header.metric, header.quality) != (self.model_name, self.metric, self.quality):
            raise ModelMismatchError(
                f"stream was made by {header.model} ({header.metric}, quality {header.quality}), "
                f"not by this codec {self.model_name} ({self.metric}, quality {self.quality})"
            )
        if header.digest != self.weights_digest():
            raise ModelMismatchError(
                f"stream was made by {header.model} weights {header.digest.hex()}, "
                f"but this codec has weights {self.weights_digest().hex()}"
            )

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _dtype(self) -> torch.dtype:
        """The transforms' float type (float32 normally; float64 after ``.double()``)."""
        return next(self.g_s.parameters()).dtype

    def _analyse(self, x: Tensor, progress: bool = False) -> Tensor:
        """g_a of a (1, 3, H, W) image, tiled above :attr:`tiling`'s size."""
        tiled = self.tiling.applies(*x.shape[-2:])
        x = pad_to_stride(x)
        if not tiled:
            return self.g_a(x)
        return analyse_tiled(self.g_a, x, self.tiling, self.profile.latent_channels, progress=progress)

    def _synthesize(self, y_hat: Tensor, height: int, width: int, progress: bool = False) -> Tensor:
        """The (3, height, width) reconstruction in [0, 1] of a (1, C, h, w) latent; tiled like :meth:`_analyse`."""
        y_hat = y_hat.to(self._dtype())
        if self.tiling.applies(height, width):
            x_hat = synthesize_tiled(self.g_s, y_hat, self.tiling, progress=progress)
        else:
            x_hat = self.g_s(y_hat)
        return x_hat[0, :, :height, :width].clamp(0, 1)

    # Substream 0 holds the factorised scale; substream 1 + i holds context scale S - 1 - i.
    def _substream_of(self, step: Step) -> int:
        return self.profile.scales - step.scale

    def _factorized_tables(self) -> tuple[Tensor, np.ndarray, np.ndarray, np.ndarray]:
        medians = self.entropy.coding_medians()
        low, pmf = self.entropy.factorized.coding_tables(medians, FACTORIZED_HALF_RANGE)
        high = low + (pmf > 0).cumsum(1).argmax(1)
        return medians, low, high, pmf

    def _encode_latent(self, y: Tensor) -> tuple[Tensor, list[bytes]]:
        encoders = [Encoder() for _ in range(self.profile.scales + 1)]
        coarse = subsample(y, self.profile.scales)
        medians, low, high, pmf = self._factorized_tables()
        medians = medians.to(y)[None, :, None, None]
        channel_low = torch.from_numpy(low).to(y)[None, :, None, None]
        channel_high = torch.from_numpy(high).to(y)[None, :, None, None]
        offsets = torch.maximum(torch.minimum(torch.round(coarse - medians), channel_high), channel_low)
        encoders[0].categorical((offsets - channel_low).cpu().numpy(), _rows_per_element(pmf, coarse.shape))
        targets = {s: subsample(y, s) for s in range(self.profile.scales)}

        def step_fn(step: Step, mean: Tensor, log_scale: Tensor) -> Tensor:
            residual = torch.round(targets[step.scale][step.index()] - mean)
            symbols = residual.clamp(-GAUSSIAN_HALF_RANGE, GAUSSIAN_HALF_RANGE)
            encoders[self._substream_of(step)].gaussian(symbols.cpu().numpy(), scale_indices(log_scale).cpu().numpy())
            return symbols + mean

        y_hat = self.entropy.traverse(offsets + medians, tuple(y.shape[-2:]), self.entropy.context.exact(), step_fn)
        return y_hat, [e.finish() for e in encoders]

    def _decode_latent(self, substreams: list[bytes], latent_shape: tuple[int, int]) -> Tensor:
        device = self._device()
        decoders = [Decoder(s) for s in substreams]
        c = self.profile.latent_channels
        coarse_shape = (1, c, latent_shape[0] >> self.profile.scales, latent_shape[1] >> self.profile.scales)
        medians, low, _, pmf = self._factorized_tables()
        symbols = decoders[0].categorical(_rows_per_element(pmf, coarse_shape))
        offsets = torch.from_numpy(symbols).to(device, torch.float64).reshape(coarse_shape)
        coarse = offsets + torch.from_numpy(low).to(device, torch.float64)[None, :, None, None]
        coarse = coarse + medians.to(device)[None, :, None, None]

        def step_fn(step: Step, mean: Tensor, log_scale: Tensor) -> Tensor:
            indices = scale_indices(log_scale)
            decoded = decoders[self._substream_of(step)].gaussian(indices.cpu().numpy())
            return torch.from_numpy(decoded).to(mean).reshape(mean.shape) + mean

        y_hat = self.entropy.traverse(coarse, latent_shape, self.entropy.context.exact(), step_fn)
        for decoder in decoders:
            decoder.check_exhausted()
        return y_hat


def _rows_per_element(pmf: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The probability row of every element of a (1, C, h, w) tensor, in C-order: (C*h*w, L)."""
    return np.repeat(pmf, shape[-1] * shape[-2], axis=0)
