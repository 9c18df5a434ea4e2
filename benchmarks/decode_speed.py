"""Encode and decode time of every MSP profile next to a serial context model and a hyperprior, in one run.

    python benchmarks/decode_speed.py [--image ../shared/data/speed-2k/speed01-2048x1152.png]
        [--sizes 768x512 2048x1152] [--repeats 3] [--threads 2] [--weights lic_zoo/weights/msp-lite-mse-q3]

MSP codecs compress (without LOF) and decompress the photo end to end (its top-left crop at each size), with trained
weights for the profile ``--weights`` names, fresh ones otherwise; the table also gives the number of sequential
context-network calls. The references decode the same latent size (H/16 x W/16, 192 channels) with real entropy
coding. Each (model, size) runs in its own subprocess so that peak memory (max RSS) is its own. Medians over
``--repeats`` (the serial model, being slow, runs ``--repeats-serial`` times above 1 MP).
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from lic_zoo.model.transforms import latent_shape
from lic_zoo.zoo.registry import MODELS as ZOO_MODELS

sys.path.insert(0, str(Path(__file__).resolve().parent))
MODELS = (*ZOO_MODELS, "hyperprior", "serial-context")
DEFAULT_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "speed-2k" / "speed01-2048x1152.png"


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def measure(model: str, height: int, width: int, repeats: int, image_path: Path, weights: Path | None) -> dict:
    """Run in the child process: time encode and decode of one model at one size."""
    torch.manual_seed(0)
    shape = latent_shape(height, width)
    if model in ZOO_MODELS:
        from lic_zoo import MSPCodec
        from lic_zoo.image_io import load_image
        from lic_zoo.zoo import load_local

        trained = weights is not None and load_local(weights).model_name == model
        codec = load_local(weights) if trained else MSPCodec(ZOO_MODELS[model]).eval()
        image = load_image(image_path)[0][:, :height, :width]
        enc, data = median_time(lambda: codec.compress(image, lof_steps=0), repeats)
        dec, _ = median_time(lambda: codec.decompress(data), repeats)
        steps, size = codec.sequential_steps, len(data)
    else:
        from serial_baseline import HyperpriorCodec, SerialContextCodec, random_latents

        codec = (SerialContextCodec() if model == "serial-context" else HyperpriorCodec()).eval()
        y, z = random_latents(codec.n, codec.m, shape)
        enc, streams = median_time(lambda: codec.encode(y, z), repeats)
        dec, _ = median_time(lambda: codec.decode(streams, shape), repeats)
        steps = shape[0] * shape[1] if model == "serial-context" else 1
        size = sum(map(len, streams))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"model": model, "size": f"{width}x{height}", "encode_s": enc, "decode_s": dec, "steps": steps,
            "bpp": 8 * size / (height * width), "peak_rss_mb": peak, "repeats": repeats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--weights", type=Path, help="exported checkpoint used for its profile")
    parser.add_argument("--sizes", nargs="+", default=["768x512", "2048x1152"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeats-serial", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=4, metavar=("MODEL", "H", "W", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        model, h, w, r = args.child
        print(json.dumps(measure(model, int(h), int(w), int(r), args.image, args.weights)))
        return
    print(f"torch {torch.__version__}, {args.threads} threads, {platform.machine()}, {torch.get_num_interop_threads()} interop")
    print("| model | size | sequential steps | bpp | encode s | decode s | decode vs serial | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        w, h = map(int, size.split("x"))
        rows = []
        for model in args.models:
            repeats = args.repeats_serial if model == "serial-context" and h * w > 1_000_000 else args.repeats
            extra = ["--weights", str(args.weights)] if args.weights else []
            out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--image", str(args.image),
                                  *extra, "--child", model, str(h), str(w), str(repeats)],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        serial = next((r["decode_s"] for r in rows if r["model"] == "serial-context"), None)
        for r in rows:
            ratio = f"{serial / r['decode_s']:.1f}x faster" if serial else "-"
            bpp = f"{r['bpp']:.3f}" if r["model"] in ZOO_MODELS else "-"
            print(f"| {r['model']} | {r['size']} | {r['steps']} | {bpp} | {r['encode_s']:.2f} | {r['decode_s']:.2f} | {ratio} "
                  f"| {r['peak_rss_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
