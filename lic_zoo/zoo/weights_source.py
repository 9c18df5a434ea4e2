"""One way to name weights: a name is parsed into one explicit source, then read as ``(state_dict, config)``.

In the style of timm's ``parse_model_name``, each source has its own spelling and nothing is guessed:

- ``msp-lite-mse-q3``: a registered checkpoint (:data:`lic_zoo.zoo.registry.CHECKPOINTS`), digest checked, read by
  :func:`lic_zoo.zoo.checkpoint_weights`;
- ``hf-hub:ORG/NAME`` or ``hf-hub:ORG/NAME@REVISION``: a Hugging Face Hub repo at a branch, tag or commit, read by
  :func:`lic_zoo.zoo.hub.load_pretrained`;
- ``./exported``, ``/abs/folder``, ``runs/q3/export``: a folder holding ``model.safetensors`` + ``config.json``,
  read by :func:`lic_zoo.zoo.hub.load_pretrained`;
- ``runs/q3/checkpoints/last.ckpt``: a Lightning training checkpoint, read by :func:`read_training_checkpoint`
  (``weights_only=True``: nothing is unpickled).

A ``str`` that is not a registered id or ``hf-hub:`` name is a path; a :class:`~pathlib.Path` is always a path. A
name that could mean two sources is refused with :class:`~lic_zoo.errors.WeightsNameError`, naming the spelling of
each: ``ORG/NAME`` that is also a local folder (write ``./ORG/NAME`` or ``hf-hub:ORG/NAME``), a registered id that
is also a local path. ``ORG/NAME`` with no such folder is refused too: the Hub is always written ``hf-hub:``.

Reading a ``.ckpt`` needs neither Lightning nor anything else of the ``train`` extra, and importing this module
loads neither them nor ``huggingface_hub`` (imported when a name is parsed).
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from ..errors import CorruptWeightsError, ModelMismatchError, WeightsNameError, WeightsUnavailableError
from .registry import CHECKPOINTS, list_entries

HUB_PREFIX = "hf-hub:"
TRAINING_SUFFIX = ".ckpt"
CHECKPOINT_KEY = "lic_zoo"  # entry of a training checkpoint holding {"codec_config": MSPCodec.config}
_CODEC_PREFIX = "codec."
SPELLINGS = "a registered checkpoint id (see `lic-zoo models`), hf-hub:ORG/NAME[@REVISION], a folder or a .ckpt file"

StateDict = dict[str, torch.Tensor]
Kind = Literal["checkpoint", "hub", "folder", "training"]


@dataclass(frozen=True)
class WeightsSource:
    """Where a weights name points: ``kind`` and ``location`` (checkpoint id, Hub repo id or path)."""

    kind: Kind
    location: str
    revision: str | None = None  # Hub only

    def __str__(self) -> str:
        if self.kind == "hub":
            return f"{HUB_PREFIX}{self.location}" + (f"@{self.revision}" if self.revision else "")
        return self.location


def is_repo_id(text: str) -> bool:
    """Whether ``text`` is a Hub repo id with an owner: ``ORG/NAME``."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return "/" in text


def parse_weights_name(name: str | os.PathLike[str]) -> WeightsSource:
    """The one source ``name`` names (see the module docstring); :class:`WeightsNameError` if it could be two."""
    if not isinstance(name, str):
        return _path_source(os.fspath(name))
    if name.startswith(HUB_PREFIX):
        repo_id, at, revision = name.removeprefix(HUB_PREFIX).partition("@")
        if not is_repo_id(repo_id) or (at and not revision):
            raise WeightsNameError(f"{name!r} is not a Hub name: write hf-hub:ORG/NAME or hf-hub:ORG/NAME@REVISION")
        return WeightsSource("hub", repo_id, revision or None)
    if any(c.id == name for c in CHECKPOINTS):
        if os.path.exists(name):
            raise WeightsNameError(f"{name!r} names both a registered checkpoint and the local path ./{name}: write "
                                   f"./{name} for the path, or load the checkpoint from another directory")
        return WeightsSource("checkpoint", name)
    if not os.path.exists(name):
        if any(entry.id == name for entry in list_entries()):
            raise WeightsUnavailableError(f"no pretrained weights are published for {name}; registered checkpoints: "
                                          f"{', '.join(c.id for c in CHECKPOINTS)}")
        if is_repo_id(name):
            raise WeightsNameError(f"{name!r} is not a local folder; for the Hub repo write hf-hub:{name}")
    elif is_repo_id(name):
        raise WeightsNameError(f"{name!r} is both a local path and a Hub repo id: write ./{name} for the path or "
                               f"hf-hub:{name} for the Hub repo")
    return _path_source(os.path.expanduser(name))


def _path_source(path: str) -> WeightsSource:
    if path.endswith(TRAINING_SUFFIX) and not os.path.isdir(path):
        return WeightsSource("training", path)
    return WeightsSource("folder", path)


def resolve_weights(name: str | os.PathLike[str], **hub_options: Any) -> tuple[StateDict, dict[str, Any]]:
    """``(state_dict, config)`` of the weights ``name`` names, floats as float32; nothing is unpickled.

    ``hub_options`` (``cache_dir``, ``local_files_only``, ``endpoint``) go to :func:`lic_zoo.zoo.hub.load_pretrained`
    for ``hf-hub:`` names. Errors are typed and one line: :class:`WeightsNameError` for a name that is malformed or
    could mean two sources, :class:`WeightsUnavailableError` for weights that are not there.
    """
    source = parse_weights_name(name)
    if source.kind == "checkpoint":
        from . import checkpoint_weights

        return checkpoint_weights(next(c for c in CHECKPOINTS if c.id == source.location))
    if source.kind == "training":
        if not os.path.isfile(source.location):
            raise WeightsUnavailableError(f"{source}: no such training checkpoint; weights are named by {SPELLINGS}")
        return read_training_checkpoint(source.location)
    from .hub import load_pretrained

    if source.kind == "hub":
        return load_pretrained(str(source), **hub_options)
    if not os.path.isdir(source.location):
        raise WeightsUnavailableError(f"{source}: no such folder; weights are named by {SPELLINGS}")
    return load_pretrained(Path(source.location))


def read_training_checkpoint(path: str | os.PathLike[str]) -> tuple[StateDict, dict[str, Any]]:
    """The codec's ``(state_dict, config)`` from a training ``.ckpt`` (loaded with ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no such checkpoint", str(path))
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise CorruptWeightsError(f"{path}: not a readable checkpoint ({str(exc).splitlines()[0]})") from None
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint or "state_dict" not in checkpoint:
        raise ModelMismatchError(f"{path} is not a lic_zoo training checkpoint (no {CHECKPOINT_KEY!r} entry)")
    weights = checkpoint["state_dict"]
    state = {name.removeprefix(_CODEC_PREFIX): v for name, v in weights.items() if name.startswith(_CODEC_PREFIX)}
    return state, checkpoint[CHECKPOINT_KEY]["codec_config"]
