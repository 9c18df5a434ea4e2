"""The rate-distortion objective shared by training and latent overfitting."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms_ssim


def rd_loss(bits: Tensor, x_hat: Tensor, x: Tensor, *, metric: str, lmbda: float) -> dict[str, Tensor]:
    """``R + lambda * 255^2 * MSE`` (metric "mse") or ``R + lambda * (1 - MS-SSIM)`` ("ms-ssim").

    ``bits`` is (B,) per image; R is in bits per pixel, averaged over the batch. Returns the loss and its terms.
    """
    bpp = bits.float().mean() / (x.shape[-2] * x.shape[-1])
    x_hat = x_hat.float()
    if metric == "mse":
        mse = F.mse_loss(x_hat, x)
        return {"loss": bpp + lmbda * 255**2 * mse, "bpp": bpp, "mse": mse}
    similarity = ms_ssim(x_hat, x, data_range=1.0)
    return {"loss": bpp + lmbda * (1 - similarity), "bpp": bpp, "ms_ssim": similarity}
