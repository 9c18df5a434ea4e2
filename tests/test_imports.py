"""Start-up and dependencies: compressing, decoding and the light commands load no training, Hub or plot stack."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

from lic_zoo import MSPCodec
from lic_zoo.zoo.hub import save_pretrained

TRAINING_STACK = ("lightning", "torchmetrics", "jsonargparse")
HEAVY = (*TRAINING_STACK, "huggingface_hub", "scipy", "matplotlib")


def loaded_after(code: str) -> list[str]:
    """Which of :data:`HEAVY` a fresh interpreter has imported after running ``code``."""
    script = (f"import sys\n{code}\n"
              f"print(__import__('json').dumps([m for m in {HEAVY!r} if sys.modules.get(m) is not None]))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_lic_zoo_loads_neither_lightning_nor_torchmetrics():
    assert loaded_after("import lic_zoo") == []


def test_light_commands_stay_light(tmp_path):
    torch.manual_seed(0)
    codec = MSPCodec("lite", quality=2)
    (tmp_path / "x.lic").write_bytes(codec.compress(torch.rand(3, 16, 16), lof_steps=0))
    for argv in (["models"], ["info", str(tmp_path / "x.lic")], ["compress", "--help"]):
        code = f"from lic_zoo.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
        assert loaded_after(code) == [], argv


def test_compress_and_decompress_without_the_training_stack(tmp_path):
    """With Lightning, torchmetrics and jsonargparse unimportable, the codec commands work; `train` says what to install."""
    torch.manual_seed(0)
    codec = MSPCodec("lite", quality=2)
    weights = save_pretrained(codec.state_dict(), codec.config, tmp_path / "w")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    code = f"""
from lic_zoo.cli import main
w, d = {str(weights)!r}, {str(tmp_path)!r}
assert main(["compress", d + "/a.png", d + "/a.lic", "--weights", w]) == 0
assert main(["decompress", d + "/a.lic", d + "/b.png", "--weights", w]) == 0
assert main(["train", "fit", "--help"]) == 1
"""
    script = f"import sys\nfor name in {TRAINING_STACK!r}: sys.modules[name] = None\n{code}"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(
        "lic-zoo train: error: training needs the train extra: pip install 'lic-zoo[train]'")
    assert (tmp_path / "b.png").is_file()
