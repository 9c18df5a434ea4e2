"""Training throughput of each MSP profile: median seconds per training step and images per second.

CPU seconds (summed over this process's threads) are printed too: they change less than wall time when other
processes compete for the cores.

Runs the real training step (forward over the decoder's schedule, RD loss, backward, clipping, aux gradient, Adam)
inside a Lightning ``Trainer`` on random crops of an image folder, without validation, logging or checkpoints.
The first steps (warm-up: allocator, caches) are not counted. Prints a Markdown table.

    python benchmarks/train_throughput.py --data /work/shared/data/train --batch-size 8 --crop 256 --steps 5
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import lightning.pytorch as pl
import torch

from lic_zoo.training import ImageFolderDataModule, MSPBase, MSPExtra, MSPLite

MODULES = {"lite": MSPLite, "base": MSPBase, "extra": MSPExtra}


class StepTimer(pl.Callback):
    """Wall time and CPU time (all threads of this process) of every training step, batch start to batch end."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self._start = (0.0, 0.0)

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: object, idx: int) -> None:
        self._start = (time.perf_counter(), time.process_time())

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, out: object, batch: object,
                           idx: int) -> None:
        self.wall.append(time.perf_counter() - self._start[0])
        self.cpu.append(time.process_time() - self._start[1])


def measure(profile: str, data: str, *, batch_size: int, crop: int, steps: int, warmup: int, accelerator: str,
            precision: str) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each timed training step of ``profile``."""
    pl.seed_everything(0, verbose=False)
    timer = StepTimer()
    trainer = pl.Trainer(
        accelerator=accelerator, devices=1, precision=precision, max_steps=warmup + steps, limit_val_batches=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[timer],
    )
    datamodule = ImageFolderDataModule(data, val_images=1, crop_size=crop, batch_size=batch_size,
                                       samples_per_epoch=batch_size * (warmup + steps), num_workers=1)
    trainer.fit(MODULES[profile](lr_schedule="constant"), datamodule=datamodule)
    return timer.wall[warmup:], timer.cpu[warmup:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data/train", help="folder of training images")
    parser.add_argument("--profiles", nargs="+", default=list(MODULES), choices=list(MODULES))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per profile")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--precision", default="32-true")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}, load average {os.getloadavg()[0]:.1f} at start")
    print(f"batch {args.batch_size} x {args.crop}x{args.crop}, {args.steps} timed steps after {args.warmup} warm-up, "
          f"{args.accelerator} {args.precision}\n")
    print("| profile | median wall s/step | images/s | steps/hour | median CPU s/step | wall s of the timed steps |")
    print("|---|---|---|---|---|---|")
    for profile in args.profiles:
        wall, cpu = measure(profile, args.data, batch_size=args.batch_size, crop=args.crop, steps=args.steps,
                            warmup=args.warmup, accelerator=args.accelerator, precision=args.precision)
        median = statistics.median(wall)
        print(f"| {profile} | {median:.2f} | {args.batch_size / median:.2f} | {3600 / median:.0f} | "
              f"{statistics.median(cpu):.2f} | {', '.join(f'{t:.2f}' for t in wall)} |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")

if __name__ == "__main__":
    main()
