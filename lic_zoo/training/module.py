"""LightningModules that train the MSP codecs on the rate-distortion loss.

One class, :class:`MSPLightningModule`, trains every profile (``profile: lite | base | extra``); ``MSPLite``,
``MSPBase`` and ``MSPExtra`` are aliases that only change the default profile, kept so that existing recipes and
checkpoints load. The codec itself stays a plain ``nn.Module`` (``self.codec``).

Optimisation is manual, with one Adam holding two parameter groups:

- ``main``: every codec parameter except the factorised density's ``quantiles``, trained on the RD loss
  ``R + lambda * 255^2 * MSE`` (metric "mse") or ``R + lambda * (1 - MS-SSIM)`` (metric "ms-ssim"), with gradient
  clipping and a warm-up + cosine learning-rate schedule;
- ``aux``: the ``quantiles`` alone, trained on the codec's auxiliary loss at a constant learning rate. Their
  gradient is taken with ``torch.autograd.grad``, so the auxiliary loss never reaches the density network itself
  (as in CompressAI) and never goes through DDP: the quantiles are excluded from DDP and stay equal on every rank
  because their loss depends only on parameters that DDP keeps equal.
"""
from __future__ import annotations

import functools
import math
from typing import Any, ClassVar, Literal

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.image import MultiScaleStructuralSimilarityIndexMeasure, PeakSignalNoiseRatio

from ..codec import MSPCodec, MSPOutput
from ..evaluation.metrics import MS_SSIM_MIN_SIDE
from ..image_io import to_uint8
from ..model.losses import rd_loss
from ..model.rate import GAIN_REFERENCE_QUALITY, lambda_for
from ..zoo.registry import METRICS
from ..zoo.weights_source import resolve_weights
from .export import CHECKPOINT_KEY, load_into_codec

QUANTILES = "codec.entropy.factorized.quantiles"
Metric = Literal[METRICS]  # the registry's metric names: the choices the training CLI offers


def lr_factor(step: int, *, warmup: int, total: int, final: float, schedule: str) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up, then constant or cosine decay to ``final`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant" or total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / (total - warmup))
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _constant(step: int) -> float:
    return 1.0


def _eval_metrics() -> MetricCollection:
    return MetricCollection({
        "loss": MeanMetric(), "bpp": MeanMetric(), "psnr": PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3)),
        "ms_ssim": MultiScaleStructuralSimilarityIndexMeasure(data_range=1.0),
        "real_bpp": MeanMetric(), "real_psnr": PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3)),
    }, compute_groups=False)


class MSPLightningModule(pl.LightningModule):
    """Trains an :class:`~lic_zoo.codec.MSPCodec` of any profile.

    Args:
        profile: the architecture, a name of :data:`lic_zoo.model.profiles.PROFILES` (``lite``, ``base``, ``extra``).
        quality: quality of a fixed-rate codec (the default quality of a variable-rate one); sets lambda from
            ``lic_zoo.model.rate.LAMBDAS[metric]`` (MSE: 0..9 = 0.0007, 0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483,
            0.0932, 0.18, 0.42; fractional qualities interpolate geometrically).
        qualities: ``[low, high]`` trains one variable-rate codec for that whole range (gain units,
            ``docs/variable-rate.md``); each crop draws its quality uniformly from it.
        val_qualities: qualities a variable-rate codec is validated at (default: both ends and the middle).
        metric: distortion of the RD loss, one of :data:`lic_zoo.zoo.registry.METRICS` ("mse", "ms-ssim").
        lmbda: explicit lambda, overriding the quality's (the quality still names the checkpoint).
        lr: peak learning rate of the networks (Adam).
        aux_lr: learning rate of the factorised density's quantiles (constant).
        gain_lr: peak learning rate of a variable-rate codec's gain units (default: ``lr``); on the networks'
            schedule. A few hundred values that set every quality's rate: they can move faster than the networks.
        rate_proxy: how the training rate treats quantisation: "noise" (additive uniform noise, the usual proxy)
            or "round" (the rounded residuals the coder codes, straight-through gradients). The synthesis sees
            rounded latents either way. At low rates noise overstates the rate (docs/training/msp-lite-variable.md).
        pin_reference_gain: keep the reference quality's gains (``lic_zoo.model.rate.GAIN_REFERENCE_QUALITY``) where
            they start, so that the shared networks cannot drift in scale against every quality's gains at once.
        lr_schedule: "cosine" (decay to ``final_lr_factor * lr`` at the last step) or "constant".
        warmup_steps: linear warm-up steps from ``lr / warmup_steps`` to ``lr``.
        final_lr_factor: learning rate at the end of the cosine, relative to ``lr``.
        grad_clip: max global norm of the network gradients (0 = no clipping).
        real_bpp_images: validation images that are also really compressed and decompressed each validation
            (``val/real_bpp``, ``val/real_psnr``); ``test`` does it for every image.
        init_from: weights to start from (fine-tuning), named as :mod:`lic_zoo.zoo.weights_source` reads them: a
            registered checkpoint id such as ``msp-lite-mse-q3``, an exported checkpoint folder,
            ``hf-hub:ORG/NAME[@REVISION]`` or a training ``.ckpt``. Same profile required.
        compile_networks: ``torch.compile`` the transforms and the context network (in place: checkpoints keep
            their parameter names).
    """

    PROFILE: ClassVar[str] = "lite"  # the default profile, which the training CLI reads to name the run folder

    def __init__(
        self,
        profile: str = PROFILE,
        quality: float = 3,
        metric: Metric = "mse",
        lmbda: float | None = None,
        qualities: tuple[int, int] | None = None,
        val_qualities: list[float] | None = None,
        lr: float = 1e-4,
        aux_lr: float = 1e-3,
        gain_lr: float | None = None,
        rate_proxy: Literal["noise", "round"] = "noise",
        pin_reference_gain: bool = False,
        lr_schedule: Literal["cosine", "constant"] = "cosine",
        warmup_steps: int = 0,
        final_lr_factor: float = 0.1,
        grad_clip: float = 1.0,
        real_bpp_images: int = 2,
        init_from: str | None = None,
        compile_networks: bool = False,
    ) -> None:
        super().__init__()
        if qualities is not None and lmbda is not None:
            raise ValueError("a variable-rate codec (qualities) takes its lambdas from the quality ladder, not lmbda")
        lambda_for(metric, quality)  # refuses a quality outside the metric's ladder
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.codec = MSPCodec(profile, metric=metric, quality=quality, lmbda=lmbda, qualities=qualities)
        if qualities is None:
            self.val_qualities = [self.codec.quality]
        else:
            self.val_qualities = list(val_qualities or (qualities[0], (qualities[0] + qualities[1]) / 2, qualities[1]))
            for q in self.val_qualities:
                self.codec.check_quality(q)
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(self, [QUANTILES])
        self.eval_metrics = nn.ModuleDict({
            stage: nn.ModuleList(_eval_metrics() for _ in self.val_qualities) for stage in ("val", "test")
        })
        self.mean_loss = nn.ModuleDict({stage: MeanMetric() for stage in ("val", "test")})
        self.lof_options: dict[str, Any] = {"lof_steps": 0}  # set by the LatentOverfitting callback

    # ----------------------------------------------------------------- loss
    def rd_loss(self, out: MSPOutput, x: Tensor, quality: Tensor | None = None) -> dict[str, Tensor]:
        """Rate-distortion loss and its terms; rate in bits per pixel, averaged over the batch.

        With per-image qualities (B,), each image has its quality's lambda, and its loss is weighted by
        ``(lambda / lambda_ref) ** -0.5`` (``lambda_ref`` that of the gains' reference quality): the RD loss of a
        trained codec grows about like ``lambda ** 0.5`` along the ladder (measured: docs/variable-rate.md), so every
        quality pulls about equally.
        """
        if quality is None:
            return rd_loss(out.bits, out.x_hat, x, metric=self.codec.metric, lmbda=self.codec.lmbda)
        metric = self.codec.metric
        lmbda = torch.tensor([lambda_for(metric, q) for q in quality.tolist()], device=x.device)
        weights = (lmbda / lambda_for(metric, GAIN_REFERENCE_QUALITY)) ** -0.5
        return rd_loss(out.bits, out.x_hat, x, metric=metric, lmbda=lmbda, weights=weights)

    def sample_qualities(self, batch: int) -> Tensor | None:
        """Training qualities of a batch: uniform over the ladder (log-uniform lambda); None for fixed rate."""
        if self.codec.qualities is None:
            return None
        low, high = self.codec.qualities
        return torch.empty(batch, device=self.device).uniform_(low, high)

    # ----------------------------------------------------------------- training
    def setup(self, stage: str) -> None:
        if stage != "fit":
            return
        if self.hparams.init_from:
            load_into_codec(self.codec, *resolve_weights(self.hparams.init_from), source=self.hparams.init_from)
        if self.hparams.compile_networks:
            for net in (self.codec.g_a, self.codec.g_s, self.codec.entropy.context):
                net.compile()

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        quantiles = self.codec.entropy.factorized.quantiles
        gains = [] if self.codec.gains is None else list(self.codec.gains.parameters())
        main = [p for p in self.codec.parameters() if p is not quantiles and all(p is not g for g in gains)]
        groups = [{"params": main, "lr": hp.lr, "name": "main"}]
        if gains:
            groups.append({"params": gains, "lr": hp.lr if hp.gain_lr is None else hp.gain_lr, "name": "gains"})
        optimizer = torch.optim.Adam([*groups, {"params": [quantiles], "lr": hp.aux_lr, "name": "aux"}])
        total = self.trainer.estimated_stepping_batches
        if not math.isfinite(total):
            if hp.lr_schedule == "cosine":
                raise ValueError("lr_schedule=cosine needs a finite trainer.max_steps or trainer.max_epochs")
            total = 0
        main_factor = functools.partial(lr_factor, warmup=hp.warmup_steps, total=int(total), final=hp.final_lr_factor,
                                        schedule=hp.lr_schedule)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [main_factor] * len(groups) + [_constant])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        optimizer = self.optimizers()
        quality = self.sample_qualities(batch.shape[0])
        out = self.codec(batch, quality=quality, noise=self.hparams.rate_proxy == "noise")
        terms = self.rd_loss(out, batch, quality)
        optimizer.zero_grad()
        self.manual_backward(terms["loss"])
        if self.hparams.pin_reference_gain and self.codec.gains is not None:
            self.codec.gains.freeze_reference_gradient()
        self.clip_gradients(optimizer, gradient_clip_val=self.hparams.grad_clip, gradient_clip_algorithm="norm")
        aux_loss = self._set_aux_gradient()
        optimizer.step()
        self.lr_schedulers().step()
        logs = {f"train/{name}": value.detach() for name, value in terms.items()}
        if "mse" in terms:
            logs["train/psnr"] = -10 * torch.log10(terms["mse"].detach())
        self.log_dict(logs | {"train/aux_loss": aux_loss}, batch_size=batch.shape[0])
        self.log_dict({"loss": terms["loss"].detach(), "bpp": terms["bpp"].detach()}, prog_bar=True, logger=False,
                      batch_size=batch.shape[0])
        return terms["loss"]

    def _set_aux_gradient(self) -> Tensor:
        """Put the auxiliary loss's gradient into ``quantiles.grad`` (and nowhere else); return the loss."""
        quantiles = self.codec.entropy.factorized.quantiles
        with torch.autocast(self.device.type, enabled=False):
            aux_loss = self.codec.aux_loss()
        (quantiles.grad,) = torch.autograd.grad(aux_loss, [quantiles])
        return aux_loss.detach()

    # ----------------------------------------------------------------- evaluation
    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        self._evaluate("val", batch, real_coding=batch_idx < self.hparams.real_bpp_images)

    def test_step(self, batch: Tensor, batch_idx: int) -> None:
        self._evaluate("test", batch, real_coding=True)

    def _evaluate(self, stage: str, x: Tensor, *, real_coding: bool) -> None:
        """RD loss and estimated bpp from the likelihoods; PSNR and MS-SSIM of the 8-bit reconstruction.

        With ``real_coding``, also the bpp of the real bitstream and the PSNR of its decoded image. Batches hold one
        full image. MS-SSIM skips images with a side under ``MS_SSIM_MIN_SIDE`` (176) pixels. A variable-rate codec
        is evaluated at every validation quality (``{stage}/q{quality}/...``); ``{stage}/loss`` is then the mean of
        their weighted losses, the number checkpoints are chosen by.
        """
        variable = self.codec.variable_rate
        for quality, metrics in zip(self.val_qualities, self.eval_metrics[stage]):
            qualities = torch.full((x.shape[0],), float(quality), device=x.device) if variable else None
            out = self.codec(x, quality=qualities)
            terms = self.rd_loss(out, x, qualities)
            self.mean_loss[stage].update(terms["loss"])
            x_8bit = to_uint8(out.x_hat).float() / 255
            metrics["loss"].update(terms["loss"])
            metrics["bpp"].update(terms["bpp"])
            metrics["psnr"].update(x_8bit, x)
            logged = ["bpp", "psnr"]
            if min(x.shape[-2:]) >= MS_SSIM_MIN_SIDE:
                metrics["ms_ssim"].update(x_8bit, x)
                logged.append("ms_ssim")
            if real_coding:
                data, decoded = self._code(x[0], quality)
                metrics["real_bpp"].update(len(data) * 8 / (x.shape[-2] * x.shape[-1]))
                metrics["real_psnr"].update(to_uint8(decoded)[None].float() / 255, x)
                logged += ["real_bpp", "real_psnr"]
            prefix = f"{stage}/q{quality:g}/" if variable else f"{stage}/"
            for name in logged:
                self.log(prefix + name, metrics[name], prog_bar=not variable and name in ("bpp", "psnr"), batch_size=1)
        self.log(f"{stage}/loss", self.mean_loss[stage], prog_bar=True, batch_size=1)

    def _code(self, image: Tensor, quality: float | None = None) -> tuple[bytes, Tensor]:
        """Compress and decompress one (3, H, W) image for real, in full precision."""
        with torch.autocast(self.device.type, enabled=False):
            data = self.codec.compress(image.float(), quality=quality, **self.lof_options)
            return data, self.codec.decompress(data)

    def predict_step(self, batch: Tensor, batch_idx: int) -> dict[str, Any]:
        """Compress one full image: the .lic bytes, their bpp and the PSNR of the decoded image."""
        data, decoded = self._code(batch[0])
        mse = F.mse_loss(to_uint8(decoded).float() / 255, batch[0])
        return {"data": data, "bpp": len(data) * 8 / (batch.shape[-2] * batch.shape[-1]),
                "psnr": float(-10 * torch.log10(mse))}

    # ----------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the codec's config, so ``lic-zoo export`` can rebuild the codec without this class."""
        checkpoint[CHECKPOINT_KEY] = {"codec_config": self.codec.config}


class MSPLite(MSPLightningModule):
    """``MSPLightningModule(profile="lite")``: ``msp-lite``, about 1.1 M parameters, 6 sequential decoding steps."""

    PROFILE = "lite"

    def __init__(self, profile: str = PROFILE, **kwargs: Any) -> None:
        super().__init__(profile=profile, **kwargs)


class MSPBase(MSPLightningModule):
    """``MSPLightningModule(profile="base")``: ``msp-base``, about 6.6 M parameters, 18 sequential decoding steps."""

    PROFILE = "base"

    def __init__(self, profile: str = PROFILE, **kwargs: Any) -> None:
        super().__init__(profile=profile, **kwargs)


class MSPExtra(MSPLightningModule):
    """``MSPLightningModule(profile="extra")``: ``msp-extra``, about 20.6 M parameters, 36 sequential decoding
    steps."""

    PROFILE = "extra"

    def __init__(self, profile: str = PROFILE, **kwargs: Any) -> None:
        super().__init__(profile=profile, **kwargs)
