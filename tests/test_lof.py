"""Latent overfitting: an ordinary stream, never worse than no LOF, networks untouched."""
from __future__ import annotations

import pytest
import torch

from lic_zoo.lof import overfit_latent, true_cost

from codec_helpers import synthetic_image


@pytest.fixture(scope="module")
def codec(trained_codec):
    return trained_codec("lite")


@pytest.mark.parametrize("profile", ["lite", "base", "extra"])
def test_lof_stream_decodes_with_the_unchanged_decoder(trained_codec, profile):
    codec = trained_codec(profile)
    image = synthetic_image(40, 72, seed=3)
    weights = {k: v.clone() for k, v in codec.state_dict().items()}
    torch.manual_seed(1)
    untouched = torch.rand(1)
    torch.manual_seed(1)
    result = codec.encode(image, lof_steps=12)
    assert torch.equal(torch.rand(1), untouched)  # LOF leaves the caller's random state alone ...
    assert codec.encode(image, lof_steps=12).data == result.data  # ... and is deterministic
    assert torch.equal(codec.decompress(result.data), result.x_hat)
    assert all(torch.equal(weights[k], v) for k, v in codec.state_dict().items())  # networks frozen
    assert all(p.requires_grad for p in codec.parameters())  # and given back trainable


def test_lof_never_worse_and_usually_better(codec):
    x = synthetic_image(64, 96, seed=4)[None]
    with torch.no_grad():
        y = codec.analyse(x)
    result = overfit_latent(codec, x, y, quality=codec.quality, steps=40, lr=0.1, check_every=5)
    assert result.best_cost <= result.initial_cost == pytest.approx(true_cost(codec, x, y, codec.quality))
    assert result.best_cost == pytest.approx(true_cost(codec, x, result.y, codec.quality))
    assert result.best_cost < result.initial_cost  # 40 steps on a briefly trained model do find a better latent


def test_default_budget_skips_images_large_enough_to_tile(codec, monkeypatch):
    import dataclasses

    from lic_zoo.model.tiling import Tiling

    monkeypatch.setattr(codec, "profile", dataclasses.replace(codec.profile, lof_steps=6))
    image = synthetic_image(48, 64, seed=8)
    assert codec.encode(image).data == codec.encode(image, lof_steps=6).data != codec.encode(image, lof_steps=0).data
    monkeypatch.setattr(codec, "tiling", Tiling(min_pixels=48 * 64 - 1))  # this image is now "large"
    assert codec.encode(image).data == codec.encode(image, lof_steps=0).data


def test_lof_time_budget(codec):
    x = synthetic_image(32, 32)[None]
    with torch.no_grad():
        y = codec.analyse(x)
    result = overfit_latent(codec, x, y, quality=codec.quality, steps=10_000, seconds=0.5)
    assert result.steps < 10_000 and result.seconds < 30


def test_callback_lowers_the_reported_rd_cost(trained_codec, tmp_path):
    """`trainer.test` with LatentOverfitting reports a lower real RD cost than without, under inference mode."""
    import lightning.pytorch as pl

    from codec_helpers import save_image
    from lic_zoo.training import ImageFolderDataModule, LatentOverfitting, MSPLite

    for i in range(2):
        save_image(synthetic_image(64, 96, seed=20 + i), tmp_path / f"img{i}.png")
    module = MSPLite(quality=3)
    module.codec.load_state_dict(trained_codec("lite").state_dict())
    data = ImageFolderDataModule(str(tmp_path), val_dir=str(tmp_path), test_dir=str(tmp_path), val_images=None,
                                 num_workers=0)

    def rd_cost(callbacks) -> float:
        trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                             callbacks=callbacks, inference_mode=True)
        metrics = trainer.test(module, datamodule=data, verbose=False)[0]
        mse = 10 ** (-metrics["test/real_psnr"] / 10)
        return metrics["test/real_bpp"] + module.codec.lmbda * 255**2 * mse

    plain = rd_cost([])
    with_lof = rd_cost([LatentOverfitting(steps=15, lr=0.1)])
    assert with_lof < plain
    assert module.lof_options == {"lof_steps": 0}  # switched off again after the test


DDP_TEST_SCRIPT = """
import json, sys
import lightning.pytorch as pl
from lic_zoo.training import ImageFolderDataModule, LatentOverfitting, MSPLite
from lic_zoo.zoo import load_local

weights, images, mode, out = sys.argv[1:]
module = MSPLite(quality=3)
module.codec.load_state_dict(load_local(weights).state_dict())
data = ImageFolderDataModule(images, val_dir=images, test_dir=images, val_images=None, num_workers=0)
callbacks = [LatentOverfitting(steps=15, lr=0.1)] if mode == "lof" else []
trainer = pl.Trainer(accelerator="cpu", strategy="ddp", devices=2, logger=False, enable_progress_bar=False,
                     enable_model_summary=False, callbacks=callbacks, inference_mode=True)
metrics = trainer.test(module, datamodule=data, verbose=False)[0]
if trainer.global_rank == 0:
    json.dump(dict(metrics, world_size=trainer.world_size, lof_after=module.lof_options["lof_steps"]),
              open(out, "w"))
# Leave gloo cleanly: exiting with its threads alive occasionally aborts ("terminate called without an active
# exception", seen once in about ten runs).
import torch.distributed as dist
if dist.is_initialized():
    dist.barrier()
    dist.destroy_process_group()
"""


def test_callback_under_ddp(trained_codec, tmp_path):
    """Two CPU processes (gloo): each rank overfits its share of the images; the synced real RD cost drops."""
    import json
    import os
    import subprocess
    import sys

    from lic_zoo.zoo.hub import save_pretrained
    from codec_helpers import save_image

    codec = trained_codec("lite")
    weights = save_pretrained(codec.state_dict(), codec.config, tmp_path / "weights")
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        save_image(synthetic_image(64, 96, seed=30 + i), images / f"img{i}.png")
    script = tmp_path / "ddp_test.py"
    script.write_text(DDP_TEST_SCRIPT)
    costs = {}
    for mode in ("plain", "lof"):
        out = tmp_path / f"{mode}.json"
        proc = subprocess.run([sys.executable, str(script), str(weights), str(images), mode, str(out)],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path,
                              env=os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"})
        assert proc.returncode == 0, proc.stderr[-3000:]
        metrics = json.loads(out.read_text())
        assert metrics["world_size"] == 2 and metrics["lof_after"] == 0
        mse = 10 ** (-metrics["test/real_psnr"] / 10)
        costs[mode] = metrics["test/real_bpp"] + codec.lmbda * 255**2 * mse
    assert costs["lof"] < costs["plain"], costs


def test_lof_of_an_ms_ssim_codec_without_torchmetrics_names_the_extra(tmp_path, monkeypatch, capsys):
    """No torchmetrics (an encoder-only install): one typed line saying what to install, or to encode without LOF."""
    import sys

    from lic_zoo import MSPCodec
    from lic_zoo.cli import main
    from lic_zoo.errors import MissingDependencyError
    from lic_zoo.zoo.hub import save_pretrained
    from codec_helpers import save_image

    torch.manual_seed(0)
    codec = MSPCodec("lite", metric="ms-ssim", quality=2)
    weights = save_pretrained(codec.state_dict(), codec.config, tmp_path / "weights")
    image = synthetic_image(32, 48, seed=5)
    save_image(image, tmp_path / "in.png")
    monkeypatch.setitem(sys.modules, "torchmetrics.functional.image", None)  # every import of it now fails
    with pytest.raises(MissingDependencyError, match=r"needs torchmetrics: pip install 'lic-zoo\[train\]'"):
        codec.encode(image, lof_steps=2)
    assert codec.decompress(codec.compress(image, lof_steps=0)).shape == image.shape  # without LOF it needs none

    capsys.readouterr()
    assert main(["compress", str(tmp_path / "in.png"), str(tmp_path / "out.lic"), "--weights", str(weights)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert err.startswith("lic-zoo") and "pip install 'lic-zoo[train]'" in err and "--lof-steps 0" in err, err
    assert not (tmp_path / "out.lic").exists()
