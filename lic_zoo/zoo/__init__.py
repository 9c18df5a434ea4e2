"""The zoo: named codecs, their published weights and where those weights live.

This package's own functions are the one-line access: build or download a codec by name (:func:`load`), load
weights named explicitly (:func:`load_local`), decode any .lic stream (:func:`decode`). Behind them:

- :mod:`.registry`: the table of models (one per profile) and of published checkpoints (one record each);
- :mod:`.weights_source`: one way to name weights (registered id, ``hf-hub:ORG/NAME[@REV]``, folder, ``.ckpt``);
- :mod:`.hub`: checkpoint folders (float16 ``model.safetensors`` + ``config.json``), Hub downloads and uploads;
- :mod:`.model_card`: the README.md of a published checkpoint.

The embedded checkpoints' files are package data in ``lic_zoo/weights/<id>/``.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import torch

from ..codec import MSPCodec
from ..coding import bitstream
from ..errors import ModelMismatchError, UnknownModelError, WeightsUnavailableError
from ..model.profiles import PROFILES
from ..model.rate import snap_quality
from .registry import (Checkpoint, check_model, checkpoint_for_stream, default_checkpoint, find_checkpoint, get_entry,
                       quality_range)
from .weights_source import HUB_PREFIX, resolve_weights

EMBEDDED_WEIGHTS = Path(__file__).parents[1] / "weights"  # lic_zoo/weights/<checkpoint id>/


DEFAULT_QUALITY = 3  # what `lic-zoo compress` uses too


def load(name: str, *, quality: float = DEFAULT_QUALITY, metric: str = "mse", pretrained: bool = True,
         device: str | torch.device = "cpu") -> MSPCodec:
    """Build the zoo codec ``name`` (e.g. ``"msp-lite"``) at ``quality`` for ``metric``, in eval mode.

    ``pretrained=True`` loads the default published checkpoint serving ``quality`` (embedded in the package for
    ``msp-lite``, else from the Hugging Face Hub cache); a variable-rate checkpoint takes any quality in its range,
    e.g. 2.5. ``pretrained=False`` gives a freshly initialised codec: variable-rate over the metric's whole ladder
    when the default checkpoint is, else fixed-rate at the integer ``quality``.
    """
    profile = check_model(name, metric)
    if pretrained:
        codec = load_checkpoint(find_checkpoint(name, metric, quality))
        codec.quality = quality
        return codec.to(device)
    quality = snap_quality(quality)
    default = default_checkpoint(name, metric, quality)
    if default is not None and not default.variable_rate:
        entry = get_entry(name, quality=quality, metric=metric)
        codec = MSPCodec(profile, metric=metric, quality=entry.quality, lmbda=entry.lmbda)
    else:
        codec = MSPCodec(profile, metric=metric, quality=quality, qualities=quality_range(metric))
    return codec.eval().to(device)


def load_checkpoint(checkpoint: Checkpoint) -> MSPCodec:
    """The codec of a published checkpoint, in eval mode, its file digest checked."""
    return build_codec(*checkpoint_weights(checkpoint), source=checkpoint.id)


def checkpoint_weights(checkpoint: Checkpoint) -> tuple[dict[str, torch.Tensor], dict]:
    """``(state_dict, config)`` of a published checkpoint (embedded, or from the Hub at its pinned revision), its
    file digest checked."""
    from .hub import load_pretrained

    if checkpoint.embedded:
        source = EMBEDDED_WEIGHTS / checkpoint.id
    elif checkpoint.revision is None:
        raise WeightsUnavailableError(f"{checkpoint.id} is not published on the Hub yet")
    else:
        source = f"{HUB_PREFIX}{checkpoint.hub_repo}@{checkpoint.revision}"
    return load_pretrained(source, sha256=checkpoint.sha256)


def load_local(name: str | os.PathLike, *, device: str | torch.device = "cpu") -> MSPCodec:
    """Build a codec, in eval mode, from weights named any way :mod:`lic_zoo.zoo.weights_source` reads: an exported
    folder (``model.safetensors`` + ``config.json``), a training ``.ckpt``, a registered checkpoint id
    (``msp-lite-mse-q3``) or ``hf-hub:ORG/NAME[@REVISION]``. A :class:`~pathlib.Path` is always a path."""
    return build_codec(*resolve_weights(name), source=name).to(device)


def build_codec(state: dict[str, torch.Tensor], config: dict, *, source: object) -> MSPCodec:
    """The codec ``config`` describes with ``state`` loaded, in eval mode: the one strict builder behind every way
    of naming weights. :class:`ModelMismatchError` naming ``source`` for anything that does not fit exactly."""
    try:
        codec = MSPCodec.from_config(config)
    except (KeyError, TypeError, ValueError, UnknownModelError) as exc:
        raise ModelMismatchError(f"{source}: the codec config is incomplete or invalid ({exc})") from None
    if PROFILES.get(codec.profile.name) != codec.profile:
        raise ModelMismatchError(f"{source}: its profile {codec.profile.name!r} differs from lic_zoo's profile of "
                                 "that name")
    if config.get("model") != codec.model_name:
        raise ModelMismatchError(f"{source}: its config names model {config.get('model')!r} for a "
                                 f"{codec.model_name} profile")
    check_state(codec, state, source=source)
    codec.load_state_dict(state)
    return codec.eval()


def check_state(codec: MSPCodec, state: dict[str, torch.Tensor], *, source: object) -> None:
    """:class:`ModelMismatchError` listing what in ``state`` is missing, unexpected or reshaped for ``codec``."""
    expected = codec.state_dict()
    problems = [f"missing {k}" for k in sorted(expected.keys() - state.keys())]
    problems += [f"unexpected {k}" for k in sorted(state.keys() - expected.keys())]
    problems += [f"{k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}"
                 for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ModelMismatchError(f"{source}: weights do not match the {codec.model_name} config: "
                                 f"{'; '.join(problems[:3])}{more}")


def codec_for_stream(data: bytes, limits: bitstream.Limits = bitstream.Limits()) -> MSPCodec:
    """The published codec whose weights made a stream, found by the digest in its header (shared, do not modify
    it); older checkpoints that are no longer defaults still decode their files."""
    header, _ = bitstream.read_header(data, limits)
    check_model(header.model, header.metric)
    checkpoint = checkpoint_for_stream(header.model, header.metric, header.digest)
    if checkpoint is None:
        raise WeightsUnavailableError(
            f"no published {header.model} ({header.metric}) weights have digest {header.digest.hex()}, which made "
            "this stream; if you made it with your own exported weights, decode it with them "
            "(lic-zoo decompress --weights DIR, or lic_zoo.load_local(DIR).decompress(data))"
        )
    return _shared_codec(checkpoint)


_shared_codec = lru_cache(maxsize=4)(load_checkpoint)


def decode(data: bytes, *, limits: bitstream.Limits = bitstream.Limits(), progress: bool = False) -> torch.Tensor:
    """Decode any lic_zoo stream with the zoo codec its header names: (3, H, W) float tensor in [0, 1]."""
    return codec_for_stream(data, limits).decompress(data, limits=limits, progress=progress)


def decode_file(path: str | os.PathLike, *, limits: bitstream.Limits = bitstream.Limits(),
                progress: bool = False) -> torch.Tensor:
    """Read and decode a .lic file; see :func:`decode`."""
    return decode(Path(path).read_bytes(), limits=limits, progress=progress)
