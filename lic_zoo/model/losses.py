"""The rate-distortion objective shared by training and latent overfitting."""
from __future__ import annotations

from torch import Tensor

from ..errors import MissingDependencyError

# rd_loss with "ms-ssim" runs in training (whose extra brings torchmetrics) and in latent overfitting, which an
# encoder-only install reaches by compressing with an ms-ssim codec.
MS_SSIM_MISSING = ("MS-SSIM, the distortion of ms-ssim codecs that latent overfitting minimises, needs torchmetrics: "
                   "pip install 'lic-zoo[train]', or encode without latent overfitting (lof_steps=0, --lof-steps 0)")


def rd_loss(bits: Tensor, x_hat: Tensor, x: Tensor, *, metric: str, lmbda: float | Tensor,
            weights: Tensor | None = None) -> dict[str, Tensor]:
    """``R + lambda * 255^2 * MSE`` (metric "mse") or ``R + lambda * (1 - MS-SSIM)`` ("ms-ssim"), per image.

    ``bits`` is (B,) per image; R is in bits per pixel. ``lmbda`` is one value or one per image (B,) (variable-rate
    training), ``weights`` optional per-image loss weights. Returns the batch means of the loss and its terms.
    """
    bpp = bits.float() / (x.shape[-2] * x.shape[-1])
    x_hat = x_hat.float()
    if metric == "mse":
        distortion = ((x_hat - x) ** 2).flatten(1).mean(1)
        terms = {"mse": distortion.mean()}
        scaled = 255**2 * distortion
    else:
        try:
            from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms_ssim
        except ImportError:
            raise MissingDependencyError(MS_SSIM_MISSING) from None

        similarity = ms_ssim(x_hat, x, data_range=1.0, reduction="none")
        terms = {"ms_ssim": similarity.mean()}
        scaled = 1 - similarity
    loss = bpp + lmbda * scaled
    if weights is not None:
        loss = loss * weights
    return {"loss": loss.mean(), "bpp": bpp.mean(), **terms}
