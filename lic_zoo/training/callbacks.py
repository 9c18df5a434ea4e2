"""Lightning callbacks of lic_zoo."""
from __future__ import annotations

import lightning.pytorch as pl

from ..lof import LOF_LR
from .module import MSPLightningModule


class LatentOverfitting(pl.Callback):
    """Overfit the latent of every test/predict image before it is coded and scored (see :mod:`lic_zoo.lof`).

    The real-bitstream metrics (``test/real_bpp``, ``test/real_psnr``) and ``predict`` outputs then include LOF;
    the estimated ones (``test/bpp``, ``test/psnr``) stay those of the plain encoder, for comparison. Works under
    Lightning's inference mode (LOF re-enables autograd on its own copies) and per rank under DDP.

        lic-zoo train test --config recipes/msp-lite.yaml --trainer.callbacks+=LatentOverfitting \\
            --trainer.callbacks.steps=100 --ckpt_path runs/msp-lite-mse-q3/checkpoints/final.ckpt
    """

    def __init__(self, steps: int | None = None, lr: float = LOF_LR) -> None:
        self.steps, self.lr = steps, lr

    def _enable(self, pl_module: pl.LightningModule) -> None:
        if not isinstance(pl_module, MSPLightningModule):
            raise TypeError("LatentOverfitting works with lic_zoo's MSPLightningModule")
        steps = pl_module.codec.profile.lof_steps if self.steps is None else self.steps
        pl_module.lof_options = {"lof_steps": steps, "lof_lr": self.lr}

    def _disable(self, pl_module: pl.LightningModule) -> None:
        pl_module.lof_options = {"lof_steps": 0}

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._enable(pl_module)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._disable(pl_module)

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._enable(pl_module)

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._disable(pl_module)
