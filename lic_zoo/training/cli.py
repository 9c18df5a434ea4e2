"""The training command line: a :class:`LightningCLI` with subcommands fit, validate, test and predict.

Every run lives in one folder, ``trainer.default_root_dir`` (default ``runs/<zoo id>``, e.g.
``runs/msp-lite-mse-q3``): checkpoints in ``checkpoints/`` (``best-step=N.ckpt`` on the validation RD loss,
``last.ckpt`` every ``periodic_checkpoint.every_n_train_steps`` steps, ``final.ckpt`` when fit ends) and logs in
``lightning_logs/version_N/`` (CSV, or TensorBoard when installed) with the resolved ``config.yaml``. Resume a
killed run with the same command plus ``--ckpt_path last``: it goes on logging in the run's latest log folder.
Checkpoints are written atomically, the one each replaces kept as ``<name>.previous``, and a damaged checkpoint
falls back to that one (:mod:`lic_zoo.training.resume`). ``fit`` into a run folder that already holds checkpoints
is refused unless it resumes (``--ckpt_path``): a new run never overwrites an earlier run's checkpoints.
"""
from __future__ import annotations

import importlib
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.tensorboard import _TENSORBOARD_AVAILABLE, _TENSORBOARDX_AVAILABLE
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.trainer import Trainer

from ..errors import LicZooError, OutputError
from ..model.profiles import get_profile
from .data import ImageFolderDataModule, require_train_dir
from .module import MSPLightningModule
from .resume import AtomicCheckpointIO, resumed_logger

# Lightning's warnings that say nothing a user can act on, as (message regex, category):
LIGHTNING_NOISE: tuple[tuple[str, type[Warning]], ...] = (
    # On every periodic save under manual optimisation, that the weights are those after the optimiser step. That is
    # what we want: the checkpoint of global step N holds the weights after N steps, as in automatic mode.
    ("Using ModelCheckpoint with manual optimization", UserWarning),
    # The best-checkpoint callback looks for its validation metric at every train-epoch end, also in a run that stops
    # before the first validation (a short fine-tune). Once validation has run, Lightning raises on a missing key
    # instead of warning, so a mistyped --checkpoint.monitor still stops the run.
    (r"`ModelCheckpoint\(monitor='val/[^']*'\)` could not find the monitored key", UserWarning),
    # Torch's deprecation of LeafSpec, which Lightning itself uses (lightning/pytorch/utilities/_pytree.py).
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", Warning),
    # fit refuses a run folder holding checkpoints unless it resumes it (LicZooCLI.before_instantiate_classes): when
    # it resumes, the folder is not empty on purpose.
    (r"Checkpoint directory .* exists and is not empty", UserWarning),
)


class _DropTip(logging.Filter):
    """Drops Lightning's advertisement for its cloud logger (litlogger), logged at every trainer start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("\N{ELECTRIC LIGHT BULB} Tip:")


_DROP_TIP = _DropTip()


def silence_lightning_noise() -> None:
    """Ignore :data:`LIGHTNING_NOISE` and drop the litlogger tip; done at import and again by every
    :class:`LicZooCLI` (a caller may have reset the warning filters since, as pytest does around each test)."""
    for message, category in LIGHTNING_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)
    # rank_zero_info logs through whichever of these Lightning set last (the pytorch one once it is imported).
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_DROP_TIP)  # no-op when already there


silence_lightning_noise()

PROG = "python -m lic_zoo.train"
RUNS_DIR = "runs"
FINAL_CHECKPOINT = "final.ckpt"


class RunFolderInUseError(OutputError):
    """``fit`` without ``--ckpt_path`` into a run folder that already holds an earlier run's checkpoints."""


class LicZooCLI(LightningCLI):
    """LightningCLI for :class:`MSPLightningModule` subclasses and image-folder data, with checkpointing set up."""

    def __init__(self, args: Sequence[str] | None = None, run: bool = True, prog: str = PROG) -> None:
        silence_lightning_noise()
        super().__init__(
            MSPLightningModule,
            ImageFolderDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"prog": prog, "description": "Train, validate, test or run lic_zoo codecs."},
            auto_configure_optimizers=False,
            args=args,
            run=run,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.monitor": "val/loss", "checkpoint.mode": "min",
                             "checkpoint.filename": "best-{step}"})
        parser.add_lightning_class_args(ModelCheckpoint, "periodic_checkpoint")
        parser.set_defaults({"periodic_checkpoint.every_n_train_steps": 200, "periodic_checkpoint.save_top_k": 0,
                             "periodic_checkpoint.save_last": True})
        parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")

    def before_instantiate_classes(self) -> None:
        """Default the run folder to ``runs/<zoo id>`` and put both checkpoint callbacks in its ``checkpoints/``;
        stop at once (nothing built, nothing written) on an unset ``train_dir`` or, for a ``fit`` that does not
        resume, on a run folder that already holds checkpoints."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        data_args = config.data.get("init_args") if config.get("data") is not None else None
        if data_args is not None and "train_dir" in data_args:
            require_train_dir(data_args.train_dir)
        if config.trainer.default_root_dir is None:
            name = run_name(config.model.class_path, config.model.init_args)
            config.trainer.default_root_dir = str(Path(RUNS_DIR) / name)
        for key in ("checkpoint", "periodic_checkpoint"):
            if config[key].dirpath is None:
                config[key].dirpath = str(Path(config.trainer.default_root_dir) / "checkpoints")
        if self.subcommand == "fit" and not config.ckpt_path:
            refuse_used_run_folder(config.trainer.default_root_dir,
                                   [config[key].dirpath for key in ("checkpoint", "periodic_checkpoint")])

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The trainer, saving through :class:`AtomicCheckpointIO` (unless another CheckpointIO is configured) and,
        when ``fit`` resumes with Lightning's default logger, logging into the run's latest log folder. Without
        TensorBoard, the default logger is Lightning's default, a CSVLogger, given explicitly: Lightning would add
        a notice that it is not TensorBoard at every start."""
        config = self._get(self.config_init, "trainer", default={})
        plugins = config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
            kwargs.setdefault("plugins", [*plugins, AtomicCheckpointIO()])
        if config.get("logger") in (None, True):
            logger = None
            if self.subcommand == "fit" and self.config.fit.ckpt_path:
                logger = resumed_logger(config["default_root_dir"])
            if logger is None and not (_TENSORBOARD_AVAILABLE or _TENSORBOARDX_AVAILABLE):
                logger = CSVLogger(save_dir=config["default_root_dir"])
            if logger is not None:
                kwargs.setdefault("logger", logger)
        return super().instantiate_trainer(**kwargs)

    def after_fit(self) -> None:
        """Always leave a checkpoint of the weights fit ended with (also after ``fast_dev_run``)."""
        path = Path(self.trainer.checkpoint_callback.dirpath) / FINAL_CHECKPOINT
        self.trainer.save_checkpoint(path, weights_only=False)


def refuse_used_run_folder(root_dir: str, checkpoint_dirs: Sequence[str | None]) -> None:
    """Raise :class:`RunFolderInUseError` if a checkpoint folder of the run holds ``*.ckpt`` files (local folders
    only): a new ``fit`` there would write over them."""
    found: list[Path] = []
    for folder in dict.fromkeys(d for d in checkpoint_dirs if d):  # each folder once, in order
        path = Path(folder)
        if "://" not in str(folder) and path.is_dir():
            found += sorted(p for p in path.glob("*.ckpt") if p.is_file())
    if not found:
        return
    root = Path(root_dir)
    names = [str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in found]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    raise RunFolderInUseError(
        f"run folder {root_dir} already holds the checkpoints of an earlier run ({shown}): pass --ckpt_path last "
        "to resume that run, or choose another folder with --trainer.default_root_dir")


def run_name(class_path: str, init_args: object) -> str:
    """``msp-lite-mse-q3`` (plus ``-lmbda<value>`` when lambda is set explicitly) for a model config; the profile
    is ``init_args.profile`` when given, else the class's default."""
    module, _, name = class_path.rpartition(".")
    profile = get_profile(getattr(init_args, "profile", None) or getattr(importlib.import_module(module), name).PROFILE)
    lmbda = getattr(init_args, "lmbda", None)
    suffix = f"-lmbda{lmbda:g}" if lmbda is not None else ""
    return f"{profile.model_name}-{init_args.metric}-q{init_args.quality}{suffix}"


def run(args: Sequence[str] | None = None, *, prog: str = PROG) -> None:
    """Parse ``args`` (default: ``sys.argv[1:]``) and run the subcommand; library errors propagate."""
    LicZooCLI(args=args, prog=prog)


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m lic_zoo.train``: library errors become one line on stderr and exit code 1."""
    try:
        run(args)
    except LicZooError as exc:
        print(f"lic-zoo train: error: {exc}", file=sys.stderr)
        return 1
    return 0
