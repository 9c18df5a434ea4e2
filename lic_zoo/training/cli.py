"""The training command line: a :class:`LightningCLI` with subcommands fit, validate, test and predict.

Every run lives in one folder, ``trainer.default_root_dir`` (default ``runs/<zoo id>``, e.g.
``runs/msp-lite-mse-q3``): checkpoints in ``checkpoints/`` (``best-step=N.ckpt`` on the validation RD loss,
``last.ckpt`` every ``periodic_checkpoint.every_n_train_steps`` steps, ``final.ckpt`` when fit ends) and logs in
``lightning_logs/version_N/`` (CSV, or TensorBoard when installed) with the resolved ``config.yaml``. Resume a
killed run with the same command plus ``--ckpt_path last``: it goes on logging in the run's latest log folder.
Checkpoints are written atomically, the one each replaces kept as ``<name>.previous``, and a damaged checkpoint
falls back to that one (:mod:`lic_zoo.training.resume`).
"""
from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.trainer import Trainer

from ..errors import LicZooError
from ..profiles import get_profile
from .data import ImageFolderDataModule
from .module import MSPLightningModule
from .resume import AtomicCheckpointIO, resumed_logger

# Lightning warns on every periodic save under manual optimisation that the weights are those after the optimiser
# step. That is what we want: the checkpoint of global step N holds the weights after N steps, as in automatic mode.
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization", category=UserWarning)

PROG = "python -m lic_zoo.train"
RUNS_DIR = "runs"
FINAL_CHECKPOINT = "final.ckpt"


class LicZooCLI(LightningCLI):
    """LightningCLI for :class:`MSPLightningModule` subclasses and image-folder data, with checkpointing set up."""

    def __init__(self, args: Sequence[str] | None = None, run: bool = True, prog: str = PROG) -> None:
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
        """Default the run folder to ``runs/<zoo id>`` and put both checkpoint callbacks in its ``checkpoints/``."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.trainer.default_root_dir is None:
            name = run_name(config.model.class_path, config.model.init_args)
            config.trainer.default_root_dir = str(Path(RUNS_DIR) / name)
        for key in ("checkpoint", "periodic_checkpoint"):
            if config[key].dirpath is None:
                config[key].dirpath = str(Path(config.trainer.default_root_dir) / "checkpoints")

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The trainer, saving through :class:`AtomicCheckpointIO` (unless another CheckpointIO is configured) and,
        when ``fit`` resumes with Lightning's default logger, logging into the run's latest log folder."""
        config = self._get(self.config_init, "trainer", default={})
        plugins = config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
            kwargs.setdefault("plugins", [*plugins, AtomicCheckpointIO()])
        if self.subcommand == "fit" and self.config.fit.ckpt_path and config.get("logger") in (None, True):
            logger = resumed_logger(config["default_root_dir"])
            if logger is not None:
                kwargs.setdefault("logger", logger)
        return super().instantiate_trainer(**kwargs)

    def after_fit(self) -> None:
        """Always leave a checkpoint of the weights fit ended with (also after ``fast_dev_run``)."""
        path = Path(self.trainer.checkpoint_callback.dirpath) / FINAL_CHECKPOINT
        self.trainer.save_checkpoint(path, weights_only=False)


def run_name(class_path: str, init_args: object) -> str:
    """``msp-lite-mse-q3`` (plus ``-lmbda<value>`` when lambda is set explicitly) for a model config."""
    module, _, name = class_path.rpartition(".")
    profile = get_profile(getattr(importlib.import_module(module), name).PROFILE)
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
