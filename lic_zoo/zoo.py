"""One-line access to the zoo: build or download a codec by name, decode any .lic stream."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import torch

from . import bitstream
from .codec import MSPCodec
from .errors import ModelMismatchError, WeightsUnavailableError
from .registry import ZooEntry, get_entry

EMBEDDED_WEIGHTS = Path(__file__).parent / "weights"


DEFAULT_QUALITY = 3  # what `lic-zoo compress` uses too


def load(name: str, *, quality: int = DEFAULT_QUALITY, metric: str = "mse", pretrained: bool = True,
         device: str | torch.device = "cpu") -> MSPCodec:
    """Build the zoo codec ``name`` (e.g. ``"msp-lite"``) at ``quality`` for ``metric``, in eval mode.

    ``pretrained=True`` loads its published weights (embedded in the package for ``msp-lite``, else from the
    Hugging Face Hub cache); ``pretrained=False`` gives a freshly initialised codec.
    """
    entry = get_entry(name, quality=quality, metric=metric)
    codec = MSPCodec(entry.profile, metric=entry.metric, quality=entry.quality, lmbda=entry.lmbda)
    if pretrained:
        codec.load_state_dict(_pretrained_state(entry), strict=True)
    return codec.eval().to(device)


def _pretrained_state(entry: ZooEntry) -> dict[str, torch.Tensor]:
    from .hub import load_pretrained

    if entry.published is None:
        raise WeightsUnavailableError(
            f"no pretrained weights are published for {entry.id} yet; "
            "use pretrained=False for a freshly initialised codec, or train one (docs/training.md)"
        )
    if entry.published.embedded:
        state, _ = load_pretrained(EMBEDDED_WEIGHTS / entry.id, sha256=entry.published.sha256)
    elif entry.published.revision is None:
        raise WeightsUnavailableError(f"{entry.id} is not published on the Hub yet")
    else:
        state, _ = load_pretrained(entry.hub_repo, revision=entry.published.revision, sha256=entry.published.sha256)
    return state


def load_local(directory: str | os.PathLike, *, device: str | torch.device = "cpu") -> MSPCodec:
    """Build a codec from an exported folder (``model.safetensors`` + ``config.json``), in eval mode."""
    from .hub import load_pretrained

    state, config = load_pretrained(Path(directory))
    try:
        codec = MSPCodec.from_config(config)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelMismatchError(f"{directory}: config.json does not describe an MSP codec ({exc})") from None
    try:
        codec.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first_line = str(exc).splitlines()[0]
        raise ModelMismatchError(f"{directory}: weights do not fit the configured model: {first_line}") from None
    return codec.eval().to(device)


@lru_cache(maxsize=4)
def _cached_codec(model: str, metric: str, quality: int) -> MSPCodec:
    return load(model, quality=quality, metric=metric, pretrained=True)


def codec_for_stream(data: bytes, limits: bitstream.Limits = bitstream.Limits()) -> MSPCodec:
    """The pretrained zoo codec named in a stream's header (shared, do not modify it)."""
    header, _ = bitstream.read_header(data, limits)
    return _cached_codec(header.model, header.metric, header.quality)


def decode(data: bytes, *, limits: bitstream.Limits = bitstream.Limits(), progress: bool = False) -> torch.Tensor:
    """Decode any lic_zoo stream with the zoo codec its header names: (3, H, W) float tensor in [0, 1]."""
    return codec_for_stream(data, limits).decompress(data, limits=limits, progress=progress)


def decode_file(path: str | os.PathLike, *, limits: bitstream.Limits = bitstream.Limits(),
                progress: bool = False) -> torch.Tensor:
    """Read and decode a .lic file; see :func:`decode`."""
    return decode(Path(path).read_bytes(), limits=limits, progress=progress)
