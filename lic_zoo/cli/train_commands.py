"""``lic-zoo train`` (the Lightning training CLI) and ``lic-zoo export`` (training checkpoint -> safetensors)."""
from __future__ import annotations

import argparse
import importlib
import warnings
from types import ModuleType

import torch

from ..errors import MissingDependencyError
from ..zoo.registry import METRICS

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def register(subparsers: argparse._SubParsersAction) -> None:
    # prefix_chars that no argument uses: every argument, --help included, goes to the LightningCLI untouched.
    train = subparsers.add_parser(
        "train", add_help=False, prefix_chars="\0",
        help="train or fine-tune a codec (LightningCLI: fit/validate/test/predict; see `lic-zoo train --help`)",
    )
    train.add_argument("args", nargs=argparse.REMAINDER)
    train.set_defaults(func=_train)

    export = subparsers.add_parser(
        "export", help="write model.safetensors + config.json from a training checkpoint",
        description="Export the codec of a training checkpoint (.ckpt) to a folder that lic_zoo.load and "
                    "hub.load_pretrained accept. Refuses checkpoints whose weights do not fit their config, or "
                    "that are not the --model/--metric/--quality given.",
    )
    export.add_argument("checkpoint", help="training checkpoint, e.g. runs/msp-lite-mse-q3/checkpoints/last.ckpt")
    export.add_argument("out_dir", help="output folder (created if missing; files in it are replaced)")
    export.add_argument("--model", help="refuse unless the checkpoint is this model, e.g. msp-lite")
    export.add_argument("--metric", choices=METRICS, help="refuse unless trained for this metric")
    export.add_argument("--quality", type=int, help="refuse unless the checkpoint has this quality")
    export.add_argument("--dtype", choices=tuple(DTYPES), default="float16", help="storage of float tensors")
    export.set_defaults(func=_export)


def _training(module: str) -> ModuleType:
    """``lic_zoo.training.<module>``, or :class:`MissingDependencyError` without the ``train`` extra."""
    try:
        return importlib.import_module(f"lic_zoo.training.{module}")
    except ImportError as exc:
        raise MissingDependencyError(f"training needs the train extra: pip install 'lic-zoo[train]' ({exc})") from None


def _train(args: argparse.Namespace) -> int:
    run = _training("cli").run
    with warnings.catch_warnings():  # sys.argv also holds "train ...": that is intended here
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
        run(args.args, prog="lic-zoo train")
    return 0


def _export(args: argparse.Namespace) -> int:
    export_checkpoint = _training("export").export_checkpoint
    out = export_checkpoint(args.checkpoint, args.out_dir, model=args.model, metric=args.metric,
                            quality=args.quality, dtype=DTYPES[args.dtype])
    print(out)
    return 0
