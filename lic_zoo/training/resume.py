"""Crash-safe runs: checkpoints that survive a ``kill -9``, damaged checkpoints reported in one line, one log folder.

* :class:`AtomicCheckpointIO` writes a checkpoint to a temporary file next to its target (``.last.ckpt.partial``),
  syncs it and ``os.replace``\\ s it onto the target, so the target is always either the old or the new complete
  file, whatever filesystem the run folder is on (Lightning's own save goes through fsspec, which writes in
  ``$TMPDIR`` and then copies across filesystems). The checkpoint it replaces is kept as ``last.ckpt.previous``.
  Loading a damaged checkpoint falls back to that previous one with a one-line warning, or, when there is none
  (or it is damaged too), raises :class:`CorruptWeightsError` naming the file.
* :func:`resumed_logger` makes a resumed ``fit`` log into the run's latest ``lightning_logs/version_N`` instead of
  starting ``version_N+1``; :class:`ResumedCSVLogger` continues its ``metrics.csv`` (the killed run's rows
  after its checkpoint are replaced by the resumed run's); :class:`ResumedTensorBoardLogger` adds an event file
  that starts with TensorBoard's purge marker, so TensorBoard hides those steps of the killed run.
"""
from __future__ import annotations

import csv
import os
import pickle
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.loggers.tensorboard import _TENSORBOARD_AVAILABLE, _TENSORBOARDX_AVAILABLE
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_only
import torch

from ..errors import CorruptWeightsError

PREVIOUS_SUFFIX = ".previous"
PARTIAL_SUFFIX = ".partial"
LOG_FOLDER = "lightning_logs"
# What torch.load raises on a truncated, emptied or overwritten file (and on a pickle weights_only refuses).
DAMAGE_ERRORS = (EOFError, RuntimeError, ValueError, pickle.UnpicklingError)


def previous_path(path: Path) -> Path:
    """Where the checkpoint that ``path`` replaced is kept (not a ``*.ckpt``, so ``--ckpt_path last`` ignores it)."""
    return path.with_name(path.name + PREVIOUS_SUFFIX)


def partial_path(path: Path) -> Path:
    """The file a checkpoint is written to before it replaces ``path`` (same folder, so the rename is atomic)."""
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


def _local(path: _PATH) -> Path | None:
    """``path`` as a local path, or None for remote (fsspec) URLs."""
    fs, local = fsspec.core.url_to_fs(str(path))
    return Path(local) if isinstance(fs, LocalFileSystem) else None


def _sync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (POSIX; elsewhere the rename itself is all there is)."""
    if os.name == "posix":
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _replace_keeping_previous(partial: Path, target: Path) -> None:
    """``os.replace`` ``partial`` onto ``target``; the old ``target`` (if any) becomes its previous checkpoint."""
    if target.exists():
        previous, staging = previous_path(target), partial_path(previous_path(target))
        staging.unlink(missing_ok=True)
        try:
            os.link(target, staging)  # no copy: the old file gets a second name
        except OSError:  # no hard links on this filesystem
            shutil.copyfile(target, staging)
        os.replace(staging, previous)
    os.replace(partial, target)
    _sync_folder(target.parent)


def _damage(exc: BaseException, path: Path | None) -> str:
    """The file's size (if local) and the first sentence of what torch.load said about it."""
    said = str(exc).strip().split("\n")[0].split(". ")[0]
    size = f"{path.stat().st_size} bytes, " if path is not None else ""
    return f"{size}{type(exc).__name__}{': ' + said if said else ''}"


@rank_zero_only
def _warn(message: str) -> None:
    print(f"lic-zoo train: warning: {message}", file=sys.stderr, flush=True)


class AtomicCheckpointIO(TorchCheckpointIO):
    """:class:`TorchCheckpointIO` whose local saves are atomic and keep the previous checkpoint (see the module)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        target = _local(path)
        if target is None or storage_options is not None:  # remote, or options only the parent interprets
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_path(target)
        with open(partial, "wb") as f:  # overwrites what a killed save left
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        _replace_keeping_previous(partial, target)

    def load_checkpoint(self, path: _PATH, map_location: Callable | None = lambda storage, loc: storage,
                        weights_only: bool | None = None) -> dict[str, Any]:
        try:
            return super().load_checkpoint(path, map_location, weights_only)
        except DAMAGE_ERRORS as exc:
            local = _local(path)
            damage = f"checkpoint {path} is damaged ({_damage(exc, local)})"
            if local is None or not previous_path(local).exists():
                raise CorruptWeightsError(f"{damage}, and no previous checkpoint of it is kept") from None
        previous = previous_path(local)
        try:
            checkpoint = super().load_checkpoint(previous, map_location, weights_only)
        except DAMAGE_ERRORS as exc:
            raise CorruptWeightsError(
                f"{damage}, and so is its previous one, {previous} ({_damage(exc, previous)})") from None
        _warn(f"{damage}; resuming from the previous one, {previous} (step {checkpoint.get('global_step')})")
        return checkpoint

    def remove_checkpoint(self, path: _PATH) -> None:
        super().remove_checkpoint(path)
        local = _local(path)
        if local is not None:
            previous_path(local).unlink(missing_ok=True)


class _ResumedWriter(ExperimentWriter):
    """Continues an existing ``metrics.csv``: keeps its columns and rows, up to the first step logged again."""

    def _check_log_dir_exists(self) -> None:  # the parent deletes metrics.csv here
        self._old_rows: list[dict[str, str]] | None = None
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                reader = csv.DictReader(f)
                self._old_rows = list(reader)
                self.metrics_keys = sorted(reader.fieldnames or [])

    def save(self) -> None:
        if self._old_rows is not None and self.metrics:
            first = min(int(m["step"]) for m in self.metrics)
            with self._fs.open(self.metrics_file_path, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(row for row in self._old_rows if int(row["step"]) < first)
            self._old_rows = None
        super().save()


class ResumedCSVLogger(CSVLogger):
    """A :class:`CSVLogger` that continues the metrics of the log folder it is given instead of deleting them."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ResumedWriter(log_dir=self.log_dir)
        return self._experiment


class ResumedTensorBoardLogger(TensorBoardLogger):
    """A :class:`TensorBoardLogger` going on in the log folder it is given. The resumed run writes a new event file
    beside the killed run's and, before its first metric, TensorBoard's purge marker (``SessionLog.START``, what
    ``SummaryWriter(purge_step=N)`` writes) at the first step it logs: TensorBoard then hides what the killed run
    logged from that step on, as :class:`ResumedCSVLogger` drops those rows, and shows every step once. No
    ``hp_metric`` placeholder is logged again (at step 0 it would purge the whole run): the killed run wrote it and
    the hyperparameters."""

    def __init__(self, *args: Any, default_hp_metric: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, default_hp_metric=default_hp_metric, **kwargs)
        self._purge_pending = True

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self._purge_pending and step is not None:
            self._purge_pending = False
            if _TENSORBOARD_AVAILABLE:  # the proto of the writer Lightning uses: torch's, else tensorboardX's
                from tensorboard.compat.proto.event_pb2 import Event, SessionLog
            else:
                from tensorboardX.proto.event_pb2 import Event, SessionLog
            self.experiment._get_file_writer().add_event(Event(session_log=SessionLog(status=SessionLog.START)),
                                                         step=step)
        super().log_metrics(metrics, step)


def resumed_logger(root_dir: _PATH) -> Logger | None:
    """Lightning's default logger, writing into the latest ``lightning_logs/version_N`` of ``root_dir``; None
    when there is none yet (the run starts ``version_0`` as usual)."""
    folder = Path(root_dir) / LOG_FOLDER
    numbers = [p.name.removeprefix("version_") for p in folder.glob("version_*")] if folder.is_dir() else []
    versions = [int(n) for n in numbers if n.isdigit()]
    if not versions:
        return None
    tensorboard = _TENSORBOARD_AVAILABLE or _TENSORBOARDX_AVAILABLE
    logger_class = ResumedTensorBoardLogger if tensorboard else ResumedCSVLogger
    return logger_class(save_dir=root_dir, version=max(versions))
