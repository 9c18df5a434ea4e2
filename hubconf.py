"""torch.hub entry points of lic_zoo: one per zoo model (``msp_lite``, ``msp_base``, ``msp_extra``).

    import torch
    codec = torch.hub.load("path/to/lic_zoo", "msp_lite", source="local", quality=3, metric="mse")

Each entry point's docstring states the model's measured performance as ``lic_zoo.zoo.registry`` records it.
"""
from __future__ import annotations

import contextlib as _contextlib

from huggingface_hub.utils import disable_progress_bars as _disable_progress_bars

import lic_zoo as _lic_zoo
from lic_zoo.zoo.registry import CHECKPOINTS as _CHECKPOINTS
from lic_zoo.zoo.registry import METRICS as _METRICS
from lic_zoo.zoo.registry import MODELS as _MODELS
from lic_zoo.zoo.registry import quality_range as _quality_range
from lic_zoo.zoo.registry import quality_span as _quality_span

# Import names torch.hub checks before loading an entry point.
dependencies = ["torch", "safetensors", "huggingface_hub", "constriction", "numpy", "PIL", "tqdm"]


def msp_lite(*, quality: float = 3, metric: str = "mse", pretrained: bool = True, progress: bool = True,
             device: str = "cpu") -> _lic_zoo.MSPCodec:
    return _load("msp-lite", quality, metric, pretrained, progress, device)


def msp_base(*, quality: float = 3, metric: str = "mse", pretrained: bool = True, progress: bool = True,
             device: str = "cpu") -> _lic_zoo.MSPCodec:
    return _load("msp-base", quality, metric, pretrained, progress, device)


def msp_extra(*, quality: float = 3, metric: str = "mse", pretrained: bool = True, progress: bool = True,
              device: str = "cpu") -> _lic_zoo.MSPCodec:
    return _load("msp-extra", quality, metric, pretrained, progress, device)


def _load(model: str, quality: float, metric: str, pretrained: bool, progress: bool, device: str) -> _lic_zoo.MSPCodec:
    with _contextlib.nullcontext() if progress else _disable_progress_bars():
        return _lic_zoo.load(model, quality=quality, metric=metric, pretrained=pretrained, device=device)


def _measured(model: str) -> str:
    published = [c for c in _CHECKPOINTS if c.model == model and c.default]
    if not published:
        return "Measured performance: no pretrained weights are published yet (pretrained=False gives a freshly " \
               "initialised codec)."
    lines = []
    for checkpoint in published:
        points = ", ".join(f"q{m.quality:g} {m.bpp:.4f} bpp / {m.psnr:.2f} dB" for m in checkpoint.measured)
        lines.append(f"    {checkpoint.id} ({checkpoint.metric}, quality {_quality_span(checkpoint.qualities)}): "
                     f"{points or 'not yet measured'}")
    return ("Measured performance (eval-768x512, mean whole-file bpp / PSNR-RGB, encoded without latent "
            "overfitting; the default encoder's 10 LOF steps need fewer bits, see docs/evaluation.md):\n"
            + "\n".join(lines))


def _docstring(model: str) -> str:
    profile = _MODELS[model]
    ranges = ", ".join(f"{metric} {_quality_span(_quality_range(metric))}" for metric in _METRICS)
    return (
        f"MSP learned image codec, {profile.name} profile: N={profile.width}, C={profile.latent_channels}, "
        f"{profile.scales} scales, {len(profile.groups)} channel group(s), {profile.context_calls} sequential "
        f"context-network calls per decode at any image size, default LOF budget {profile.lof_steps} steps.\n\n"
        f"{_measured(model)}\n\n"
        f"Args: quality (a float for a variable-rate checkpoint; ladders: {ranges}), metric "
        f"({' or '.join(_METRICS)}), pretrained (load the published weights, else a freshly initialised codec), "
        "progress (show download progress bars), device (where the codec runs, default cpu).\n"
        "Returns an ``lic_zoo.MSPCodec`` in eval mode."
    )


for _entry_point in (msp_lite, msp_base, msp_extra):
    _entry_point.__doc__ = _docstring(_entry_point.__name__.replace("_", "-"))
