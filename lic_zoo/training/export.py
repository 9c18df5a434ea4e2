"""From a training checkpoint to a distributable one: ``model.safetensors`` + ``config.json``.

A Lightning ``.ckpt`` written by :class:`~lic_zoo.training.module.MSPLightningModule` carries the codec's config
under :data:`CHECKPOINT_KEY`; export rebuilds the codec from that config, refuses weights that do not fit it exactly
(missing, extra or reshaped tensors, or a profile that is not lic_zoo's profile of that name), and writes the
folder with :func:`lic_zoo.zoo.hub.save_pretrained`. Nothing here imports Lightning; reading a ``.ckpt``
(:func:`~lic_zoo.zoo.weights_source.read_training_checkpoint`) and naming weights to start from live in
:mod:`lic_zoo.zoo.weights_source`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..codec import MSPCodec
from ..errors import ModelMismatchError
from ..model.profiles import Profile
from ..zoo import build_codec, check_state
from ..zoo.hub import save_pretrained
from ..zoo.weights_source import CHECKPOINT_KEY, read_training_checkpoint

__all__ = ["CHECKPOINT_KEY", "export_checkpoint", "extend_ladder", "load_into_codec", "read_training_checkpoint",
           "widen_to_variable_rate"]

StateDict = dict[str, torch.Tensor]


def _profile(config: dict[str, Any]) -> Profile | None:
    try:
        return Profile.from_dict(config["profile"])
    except (KeyError, TypeError, ValueError):
        return None


def load_into_codec(codec: MSPCodec, state: StateDict, config: dict[str, Any], *, source: object) -> None:
    """Load weights of the same profile into ``codec`` (other quality or lambda is fine: that is fine-tuning).

    A fixed-rate checkpoint also warm-starts a variable-rate codec (:func:`widen_to_variable_rate`), and a
    variable-rate one a codec whose ladder reaches further up (:func:`extend_ladder`), never a fixed-rate codec
    (its gains also shape the entropy model's tables: there is no exact fixed-rate network to fold them into).
    """
    if _profile(config) != codec.profile:
        raise ModelMismatchError(f"{source} holds a {config.get('model', 'unknown')} checkpoint, which does not fit "
                                 f"this {codec.model_name} codec")
    if not codec.variable_rate and config.get("qualities"):
        low, high = config["qualities"]
        raise ModelMismatchError(f"{source} is a variable-rate checkpoint (qualities {low}..{high}): it starts "
                                 "variable-rate codecs only; start a fixed-rate one from a fixed-rate checkpoint "
                                 "(lic-zoo models lists them)")
    if codec.variable_rate and not config.get("qualities"):
        state = widen_to_variable_rate(state, codec)
    elif codec.variable_rate and tuple(config["qualities"]) != codec.qualities:
        state = extend_ladder(state, tuple(config["qualities"]), codec, source=source)
    check_state(codec, state, source=source)
    codec.load_state_dict(state)


def widen_to_variable_rate(state: StateDict, codec: MSPCodec) -> StateDict:
    """A fixed-rate codec's weights completed for the variable-rate ``codec``: its gain units as initialised, and
    a zero weight for the context network's quality input, so the network starts as the fixed-rate one."""
    own = codec.state_dict()
    widened = dict(state)
    widened.update({k: v for k, v in own.items() if k.startswith("gains.")})
    name = "entropy.context.conv_in.weight"
    if name in state and state[name].shape[1] + 1 == own[name].shape[1]:
        extra = state[name].new_zeros(state[name].shape[0], 1, *state[name].shape[2:])
        widened[name] = torch.cat([state[name], extra], dim=1)
    return widened


def extend_ladder(state: StateDict, qualities: tuple[int, int], codec: MSPCodec, *, source: object) -> StateDict:
    """Variable-rate weights over ``qualities`` completed for ``codec``, whose ladder starts there too and ends higher.

    The qualities both ladders have keep their gains; each new one continues the last step in log-gain (its lambda
    grows by about the same factor). The context network's quality input, the ladder position ``(q - first) /
    (last - first)``, shrinks by ``(last - first) / (new_last - first)``; its weight grows by the inverse, so the
    network computes what it did at every old quality and starts from the old highest one above it.
    """
    first, last = int(qualities[0]), int(qualities[1])
    new_first, new_last = codec.qualities
    if first != new_first or last > new_last or last - first < 1:
        raise ModelMismatchError(f"{source} serves qualities {first}..{last}; it can only start a codec whose ladder "
                                 f"starts at {first} and ends at {last} or above, not {new_first}..{new_last}")
    extended = dict(state)
    for name in ("gains.log_gain", "gains.log_inverse_gain"):
        table = state[name]
        step = table[-1] - table[-2]
        extra = [table[-1] + k * step for k in range(1, new_last - last + 1)]
        extended[name] = torch.cat([table, *(row[None] for row in extra)])
    name = "entropy.context.conv_in.weight"
    weight = state[name].clone()
    weight[:, -1] *= (new_last - first) / (last - first)
    extended[name] = weight
    return extended


def export_checkpoint(
    checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    model: str | None = None,
    metric: str | None = None,
    quality: int | None = None,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Write ``model.safetensors`` + ``config.json`` for the codec in a training checkpoint.

    ``model``, ``metric`` and ``quality``, when given, must be what the checkpoint holds
    (:class:`ModelMismatchError` otherwise). Returns the output folder.
    """
    state, config = read_training_checkpoint(checkpoint)
    for key, wanted in (("model", model), ("metric", metric), ("quality", quality)):
        if wanted is not None and config.get(key) != wanted:
            raise ModelMismatchError(f"{checkpoint} holds {key} {config.get(key)!r}, not {wanted!r}")
    codec = build_codec(state, config, source=checkpoint)
    return save_pretrained(codec.state_dict(), codec.config, out_dir, dtype=dtype)
