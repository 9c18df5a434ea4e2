"""Checkpoint distribution: safetensors + config.json directories, locally and on the Hugging Face Hub.

A checkpoint is a directory, or a Hub repo at a commit, holding

- ``model.safetensors``: the state dict, floating-point tensors stored narrow (float16 by default) and cast back
  to float32 at load; integer buffers as they are;
- ``config.json``: everything ``MSPCodec.from_config`` needs to rebuild the model;
- ``README.md``: the model card (see :mod:`lic_zoo.zoo.model_card`), optional locally.

Nothing is ever unpickled. Hub downloads go through the normal Hugging Face cache (``HF_HUB_CACHE``), so revision
pinning, ``HF_HUB_OFFLINE`` and ``HF_ENDPOINT`` work as for any Hub model. Why these functions rather than
huggingface_hub's ``ModelHubMixin`` on ``MSPCodec``: docs/hub.md, "Why not huggingface_hub's ModelHubMixin".
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx2
import torch
from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.utils import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from ..errors import CorruptWeightsError, DigestMismatchError, PublishError, WeightsNameError, WeightsUnavailableError
from ..image_io import atomic_write
from .model_card import PLOT_NAME, WeightsInfo, render_model_card
from .weights_source import HUB_PREFIX, is_repo_id, parse_weights_name

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
UPLOADED_FILES = (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME, PLOT_NAME)

# Everything huggingface_hub raises for an unreachable Hub, a refused request or a missing file.
_HUB_ERRORS = (OSError, EntryNotFoundError, httpx2.HTTPError)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_pretrained(
    state_dict: Mapping[str, torch.Tensor],
    config: Mapping[str, Any],
    directory: str | os.PathLike[str],
    *,
    dtype: torch.dtype = torch.float16,
    model_card: str | None = None,
) -> Path:
    """Write a checkpoint directory: ``model.safetensors``, ``config.json`` and, if given, ``README.md``.

    Floating-point tensors are stored as ``dtype``; integer buffers keep theirs. The output bytes depend on the
    tensors and the config only (sorted keys, no timestamps), so the same model always gives the same digest.
    Raises ``ValueError`` if a finite value would overflow ``dtype``.
    """
    if not dtype.is_floating_point:
        raise ValueError(f"storage dtype must be floating point, got {dtype}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {name: _storage_tensor(name, state_dict[name], dtype) for name in sorted(state_dict)}
    atomic_write(directory / WEIGHTS_NAME, save(tensors, metadata={"format": "pt"}))
    atomic_write(directory / CONFIG_NAME, _config_bytes(config))
    if model_card is not None:
        atomic_write(directory / CARD_NAME, model_card.encode("utf-8"))
    return directory


def _storage_tensor(name: str, tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"state_dict[{name!r}] is a {type(tensor).__name__}, not a tensor")
    tensor = tensor.detach().cpu()
    if not tensor.is_floating_point():
        return tensor.clone(memory_format=torch.contiguous_format)
    stored = tensor.to(dtype, memory_format=torch.contiguous_format, copy=True)
    overflow = torch.isinf(stored)
    if overflow.any() and torch.isfinite(tensor[overflow]).any():
        raise ValueError(f"state_dict[{name!r}] overflows {dtype}; save with a wider dtype")
    return stored


def _config_bytes(config: Mapping[str, Any]) -> bytes:
    return (json.dumps(config, sort_keys=True, indent=2, allow_nan=False) + "\n").encode("utf-8")


def load_pretrained(
    source: str | os.PathLike[str],
    *,
    revision: str | None = None,
    sha256: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool | None = None,
    endpoint: str | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load ``(state_dict, config)`` from a checkpoint directory or a Hub repo (``hf-hub:ORG/NAME[@REVISION]``).

    Floating-point tensors come back as float32. ``revision`` (branch, tag or commit) and the other Hub arguments
    are those of :func:`download`; a directory has one version only, so they do not apply to it (pin its content
    with ``sha256``). With ``sha256``, ``model.safetensors`` must have that digest, else
    :class:`DigestMismatchError`. Missing files and unreachable or offline Hubs raise
    :class:`WeightsUnavailableError`; unreadable files :class:`CorruptWeightsError`. A ``str`` is parsed as in
    :func:`lic_zoo.zoo.weights_source.parse_weights_name`: ``ORG/NAME`` without the prefix is refused
    (:class:`~lic_zoo.errors.WeightsNameError`), since it could as well be a folder.
    """
    parsed = parse_weights_name(source)
    if parsed.kind == "hub":
        if parsed.revision is not None and revision is not None and parsed.revision != revision:
            raise WeightsNameError(f"{source} names revision {parsed.revision!r}, and revision={revision!r} was given")
        directory = download(
            parsed.location,
            revision=parsed.revision or revision,
            sha256=sha256,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            endpoint=endpoint,
        )
    elif parsed.kind == "folder":
        directory = Path(parsed.location)
        _require_checkpoint(directory)
        if sha256 is not None:
            verify_sha256(directory / WEIGHTS_NAME, sha256)
    else:
        what = "registered checkpoint" if parsed.kind == "checkpoint" else "training checkpoint"
        raise WeightsUnavailableError(f"{source} is a {what}, not a checkpoint folder or Hub repo; load it with "
                                      "lic_zoo.load_local or lic_zoo.zoo.weights_source.resolve_weights")
    return _read_checkpoint(directory)


def _require_checkpoint(directory: Path) -> None:
    if not directory.is_dir():
        raise WeightsUnavailableError(f"{directory}: no such checkpoint folder")
    for name in (WEIGHTS_NAME, CONFIG_NAME):
        if not (directory / name).is_file():
            raise WeightsUnavailableError(f"{directory} is not a checkpoint directory: it has no {name}")


def verify_sha256(path: Path, expected: str) -> None:
    """Raise :class:`DigestMismatchError` unless the file at ``path`` has the sha256 ``expected``."""
    actual = file_sha256(path)
    if actual != expected.lower():
        raise DigestMismatchError(
            f"{path} has sha256 {actual}, expected {expected}: the file is corrupted or was replaced; "
            f"delete {path.resolve()} and download it again"
        )


def describe_weights(path: str | os.PathLike[str]) -> WeightsInfo:
    """Digest, element count, storage dtypes and size of a ``model.safetensors`` file (header only, no tensors)."""
    with safe_open(path, framework="pt") as file:
        slices = [file.get_slice(name) for name in file.keys()]
        num_values = sum(math.prod(part.get_shape()) for part in slices)
        dtypes = tuple(sorted({part.get_dtype() for part in slices}))
    return WeightsInfo(file_sha256(path), num_values, dtypes, os.path.getsize(path))


def _read_checkpoint(directory: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    try:
        config = json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
        tensors = load_file(directory / WEIGHTS_NAME, device="cpu")
    except (SafetensorError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptWeightsError(f"cannot read the checkpoint in {directory}: {exc}") from exc
    if not isinstance(config, dict):
        raise CorruptWeightsError(f"{directory / CONFIG_NAME} does not hold a JSON object")
    return {name: t.float() if t.is_floating_point() else t for name, t in tensors.items()}, config


def download(
    repo_id: str,
    *,
    revision: str | None = None,
    sha256: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool | None = None,
    endpoint: str | None = None,
) -> Path:
    """Fetch a Hub checkpoint into the Hugging Face cache and return its snapshot directory.

    ``repo_id`` is ``ORG/NAME`` or ``hf-hub:ORG/NAME``; ``revision`` a branch, tag or (to pin) a commit sha.
    ``local_files_only=None`` follows ``HF_HUB_OFFLINE`` (read at call time). ``config.json`` is taken from the
    same commit as the weights, even when a branch moves between the two requests.
    """
    repo_id = repo_id.removeprefix(HUB_PREFIX)
    if not is_repo_id(repo_id):
        raise WeightsUnavailableError(f"{repo_id!r} is not a Hub repo id (ORG/NAME)")
    offline = _offline_mode() if local_files_only is None else local_files_only
    fetch = {"cache_dir": cache_dir, "local_files_only": offline, "endpoint": endpoint}
    filename = WEIGHTS_NAME
    try:
        weights = Path(hf_hub_download(repo_id, WEIGHTS_NAME, revision=revision, **fetch))
        filename = CONFIG_NAME
        # The cache holds files as snapshots/<commit>/<name>: pin config.json to that commit.
        hf_hub_download(repo_id, CONFIG_NAME, revision=weights.parent.name, **fetch)
    except _HUB_ERRORS as exc:
        failure = _download_failure(exc, repo_id, revision or constants.DEFAULT_REVISION, filename, offline,
                                    cache_dir or constants.HF_HUB_CACHE, endpoint or constants.ENDPOINT)
        raise WeightsUnavailableError(failure) from exc
    if sha256 is not None:
        verify_sha256(weights, sha256)
    return weights.parent


def _offline_mode() -> bool:
    return constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}


def _download_failure(
    exc: Exception, repo_id: str, revision: str, filename: str, offline: bool, cache_dir: object, hub: str
) -> str:
    where = f"{repo_id}@{revision}"
    if isinstance(exc, LocalEntryNotFoundError):
        reason = "offline mode is on (HF_HUB_OFFLINE)" if offline else f"cannot reach the Hugging Face Hub at {hub}"
        return f"{reason} and {where} is not in the cache (HF_HUB_CACHE={cache_dir})"
    if isinstance(exc, RevisionNotFoundError):
        return f"{repo_id} on {hub} has no revision {revision!r}"
    if isinstance(exc, RepositoryNotFoundError):
        return f"{repo_id} does not exist on {hub}, or it is private or gated and no valid token was given (HF_TOKEN)"
    if isinstance(exc, EntryNotFoundError):
        return f"{where} on {hub} has no {filename}"
    return f"downloading {filename} of {where} from {hub} failed: {_one_line(exc)}"


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, HfHubHTTPError):
        detail = exc.server_message or exc.response.reason_phrase
        return f"HTTP {exc.response.status_code}" + (f" {detail.splitlines()[0]}" if detail else "")
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return f"{line} ({_one_line(exc.__cause__)})" if exc.__cause__ is not None else line


def push_to_hub(
    directory: str | os.PathLike[str],
    repo_id: str,
    *,
    token: str | None = None,
    revision: str | None = None,
    commit_message: str = "Upload lic-zoo checkpoint",
    private: bool = False,
    endpoint: str | None = None,
) -> str:
    """Upload a checkpoint directory to ``repo_id`` (created if missing) and return the commit sha.

    Only the checkpoint files are uploaded (weights, config, model card, RD plot). ``revision`` is an existing
    branch (default ``main``). ``token`` defaults to ``HF_TOKEN`` or the stored ``hf auth login``.
    """
    directory = Path(directory)
    _require_checkpoint(directory)
    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=directory,
            revision=revision,
            commit_message=commit_message,
            allow_patterns=list(UPLOADED_FILES),
        )
    except (*_HUB_ERRORS, ValueError, RuntimeError) as exc:  # LFS transfer failures arrive as RuntimeError
        raise PublishError(f"uploading {directory} to {repo_id} on {api.endpoint} failed: {_one_line(exc)}") from exc
    return commit.oid


def write_model_card(
    directory: str | os.PathLike[str],
    repo_id: str,
    *,
    rd_table_rows: Sequence[Mapping[str, object]] = (),
    rd_note: str | None = None,
    plot: str | os.PathLike[str] | None = None,
    recipe: str | None = None,
    training_data: str | None = None,
) -> Path:
    """(Re)write ``README.md``, the model card, of an exported checkpoint directory; returns its path.

    ``rd_table_rows`` are measured results (see :func:`lic_zoo.zoo.model_card.rd_rows_from_results`); ``plot`` is an
    image copied next to the weights as ``rd-curve.png`` (one already there is kept).
    """
    directory = Path(directory)
    _require_checkpoint(directory)
    _, config = _read_checkpoint(directory)
    if plot is not None:
        atomic_write(directory / PLOT_NAME, Path(plot).read_bytes())
    card = render_model_card(
        config,
        repo_id=repo_id,
        weights=describe_weights(directory / WEIGHTS_NAME),
        rd_table_rows=rd_table_rows,
        rd_note=rd_note,
        plot_path=PLOT_NAME if (directory / PLOT_NAME).is_file() else None,
        recipe=recipe,
        training_data=training_data,
    )
    atomic_write(directory / CARD_NAME, card.encode("utf-8"))
    return directory / CARD_NAME


def publish(directory: str | os.PathLike[str], repo_id: str, *, rd_table_rows: Sequence[Mapping[str, object]] = (),
            rd_note: str | None = None, plot: str | os.PathLike[str] | None = None, recipe: str | None = None,
            training_data: str | None = None, **push_options: Any) -> str:
    """Write the model card (:func:`write_model_card`), then :func:`push_to_hub` the directory; returns the commit.

    If the upload fails, the folder's card and plot are put back as they were.
    """
    directory = Path(directory)
    before = {name: (directory / name).read_bytes() if (directory / name).is_file() else None
              for name in (CARD_NAME, PLOT_NAME)}
    try:
        write_model_card(directory, repo_id, rd_table_rows=rd_table_rows, rd_note=rd_note, plot=plot, recipe=recipe,
                         training_data=training_data)
        return push_to_hub(directory, repo_id, **push_options)
    except BaseException:
        for name, content in before.items():
            if content is None:
                (directory / name).unlink(missing_ok=True)
            else:
                atomic_write(directory / name, content)
        raise
