"""The training recipes: an explicit seed, and a short fine-tune from a recipe says nothing about seeding."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from codec_helpers import save_image, synthetic_image

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.name for p in RECIPES])
def test_recipes_set_an_explicit_seed(recipe):
    seed = yaml.safe_load(recipe.read_text(encoding="utf-8"))["seed_everything"]
    assert isinstance(seed, int) and not isinstance(seed, bool)


# The documented fixed-rate alternative (docs/training.md, recipes/README.md).
FIXED_RATE = ["--model.init_args.qualities", "null", "--model.init_args.val_qualities", "null",
              "--model.init_args.quality", "4", "--model.init_args.init_from", "msp-lite-mse-q4"]


@pytest.mark.parametrize("extra", [[], FIXED_RATE], ids=["variable-rate", "fixed-rate"])
def test_a_short_fine_tune_from_the_recipe_is_seeded(tmp_path, extra):
    pytest.importorskip("lightning")
    images = tmp_path / "images"
    images.mkdir()
    for seed in range(4):
        save_image(synthetic_image(96, 128, seed=seed), images / f"{seed}.png")
    recipe = next(p for p in RECIPES if p.name == "finetune-from-zoo.yaml")
    argv = ["fit", "--config", str(recipe), "--data.init_args.train_dir", str(images), "--trainer.max_steps", "2",
            "--data.init_args.crop_size", "64", "--data.init_args.batch_size", "2", "--data.init_args.num_workers", "0",
            "--data.init_args.val_images", "1", "--trainer.enable_progress_bar", "false",
            "--trainer.default_root_dir", str(tmp_path / "run"), *extra]
    done = subprocess.run([sys.executable, "-m", "lic_zoo.cli", "train", *argv], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "Seed set to 0" in output and "No seed found" not in output
