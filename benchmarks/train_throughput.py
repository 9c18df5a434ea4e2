"""Training throughput in pixels per second: threads, processes (CPU DDP), memory layout, bf16, torch.compile, crop.

Every variant runs the real training step of :class:`~lic_zoo.training.MSPLightningModule` without the Trainer
around it: the codec's forward over the decoder's schedule, the RD loss, backward, gradient clipping, the
auxiliary gradient of the quantiles and Adam. Crops are random crops of real training photos, decoded once before
timing, so the numbers are the model's cost, not the data loader's. The first steps are not counted. Medians of
the timed steps; with ``--ddp`` the variant runs in two processes of one thread each (gloo all-reduce, as
Lightning's CPU DDP does) and the pixels of both count.

    python benchmarks/train_throughput.py --variants all          # the table of docs/training/throughput.md
    python benchmarks/train_throughput.py --variants bf16 --crops 128 256 --steps 20
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from lic_zoo.model import transforms
from lic_zoo.model.profiles import get_profile
from lic_zoo.training import MSPLightningModule
from lic_zoo.training.data import RandomCropDataset, scan_folder


@dataclass(frozen=True)
class Variant:
    name: str
    threads: int = 1
    processes: int = 1
    bf16: bool = False
    channels_last: bool = True
    compile: bool = False


VARIANTS = {v.name: v for v in (
    Variant("1 thread"),
    Variant("2 threads", threads=2),
    Variant("1 thread, contiguous (NCHW)", channels_last=False),
    Variant("1 thread, bf16", bf16=True),
    Variant("2 threads, bf16", threads=2, bf16=True),
    Variant("1 thread, torch.compile", compile=True),
    Variant("2-process DDP", processes=2),
    Variant("2-process DDP, bf16", processes=2, bf16=True),
    Variant("2-process DDP, torch.compile", processes=2, compile=True),
)}


def _crops(data: str, crop: int, count: int) -> list[torch.Tensor]:
    torch.manual_seed(0)
    dataset = RandomCropDataset(scan_folder(data), crop, samples_per_epoch=count)
    return [dataset[i] for i in range(count)]


def _worker(rank: int, variant: Variant, args: argparse.Namespace, crop: int, port: int,
            results: "mp.Queue[list[float]]") -> None:
    torch.set_num_threads(variant.threads)
    if variant.processes > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=variant.processes)
    if not variant.channels_last:
        transforms.channels_last = lambda x: x.contiguous()  # type: ignore[assignment]
    torch.manual_seed(rank)
    module = MSPLightningModule(profile=args.profile, lr_schedule="constant")
    codec = module.codec.train()
    model: torch.nn.Module = codec
    if variant.compile:
        for net in (codec.g_a, codec.g_s, codec.entropy.context):
            net.compile()
    if variant.processes > 1:  # the quantiles learn from the aux loss alone, outside DDP (as in the module)
        torch.nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            codec, ["entropy.factorized.quantiles"])
        model = torch.nn.parallel.DistributedDataParallel(codec)
    quantiles = codec.entropy.factorized.quantiles
    main = [p for p in codec.parameters() if p is not quantiles]
    optimizer = torch.optim.Adam([{"params": main, "lr": 1e-4}, {"params": [quantiles], "lr": 1e-3}])
    crops = _crops(args.data, crop, args.batch_size * 4)
    times = []
    for step in range(args.warmup + args.steps):
        batch = torch.stack([crops[(step * args.batch_size + i) % len(crops)] for i in range(args.batch_size)])
        start = time.perf_counter()
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if variant.bf16 else contextlib.nullcontext()
        with autocast:
            out = model(batch)
            loss = module.rd_loss(out, batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main, 1.0)
        (quantiles.grad,) = torch.autograd.grad(codec.aux_loss(), [quantiles])
        optimizer.step()
        times.append(time.perf_counter() - start)
    if variant.processes > 1:
        dist.destroy_process_group()
    results.put(times[args.warmup:])


def measure(variant: Variant, args: argparse.Namespace, crop: int) -> float:
    """Median pixels per second of ``variant`` (all processes together)."""
    context = mp.get_context("spawn")
    results = context.Queue()
    port = 29500 + os.getpid() % 1000
    procs = [context.Process(target=_worker, args=(rank, variant, args, crop, port, results))
             for rank in range(variant.processes)]
    for p in procs:
        p.start()
    step_times = [results.get() for _ in procs]
    for p in procs:
        p.join()
    slowest = [max(ts) for ts in zip(*step_times)]  # DDP steps are synchronous: the slower rank sets the pace
    return variant.processes * args.batch_size * crop * crop / statistics.median(slowest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/train"))
    parser.add_argument("--profile", default="lite")
    parser.add_argument("--variants", nargs="+", default=["all"], help=f"'all' or names from: {list(VARIANTS)}")
    parser.add_argument("--crops", nargs="+", type=int, default=[128])
    parser.add_argument("--crop-sweep", default="2-process DDP",
                        help="variant also timed at 192 and 256 px crops ('' to skip)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    args = parser.parse_args()
    names = list(VARIANTS) if args.variants == ["all"] else args.variants
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"{get_profile(args.profile).model_name}, batch {args.batch_size} per process, median of {args.steps} steps after "
          f"{args.warmup}, load average {os.getloadavg()[0]:.1f} at start\n")
    print("| variant | crop | k pixels/s | vs the first row |\n|---|---|---|---|")
    runs = [(VARIANTS[n], c) for n in names for c in args.crops]
    if args.crop_sweep:
        runs += [(VARIANTS[args.crop_sweep], c) for c in (192, 256) if c not in args.crops]
    reference = None
    for variant, crop in runs:
        rate = measure(variant, args, crop)
        reference = reference or rate
        print(f"| {variant.name} | {crop} | {rate / 1e3:.0f} | {rate / reference:.2f}x |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
