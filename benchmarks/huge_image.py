"""Round trip of a 24-megapixel photo through the CLI: wall time and peak memory of compress and decompress.

    python benchmarks/huge_image.py [--image ../shared/data/speed-2k/speed01-2048x1152.png] [--size 6000x4000]
        [--model msp-lite] [--quality 3] [--weights DIR] [--threads 2] [--lof-steps N]

No 24 MP photo ships with the data, so the 2K photo is resized (bicubic) to cover ``--size`` and centre-cropped.
``lic-zoo compress`` and ``lic-zoo decompress`` each run in their own process; peak memory is that process's
max RSS. The decoded PNG is checked against the encoder's reconstruction size and its PSNR is reported.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "speed-2k" / "speed01-2048x1152.png"


def make_photo(source: Path, width: int, height: int, out: Path) -> None:
    img = Image.open(source).convert("RGB")
    scale = max(width / img.width, height / img.height)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)
    left, top = (img.width - width) // 2, (img.height - height) // 2
    img.crop((left, top, left + width, top + height)).save(out)


CHILD = """
import resource, sys
from lic_zoo.cli import main
code = main(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def run_measured(cli_args: list[str], threads: int) -> tuple[float, float, str]:
    """Run a ``lic-zoo`` command in a child process: (seconds, its peak RSS in GB, its stdout)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, *cli_args], env=env, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak_kb = int(out.stderr.strip().splitlines()[-1])
    return seconds, peak_kb / 1024**2, out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--size", default="6000x4000")
    parser.add_argument("--model", default="msp-lite")
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--weights", type=Path, help="exported weights folder instead of the zoo's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lof-steps", type=int, default=0, help="latent-overfitting steps of compress")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    codec_args = (["--weights", str(args.weights)] if args.weights
                  else ["--model", args.model, "--quality", str(args.quality)])
    with tempfile.TemporaryDirectory() as tmp:
        photo, stream, decoded = Path(tmp) / "photo.png", Path(tmp) / "photo.lic", Path(tmp) / "decoded.png"
        make_photo(args.image, width, height, photo)
        enc_s, enc_gb, enc_out = run_measured(["compress", str(photo), str(stream), *codec_args,
                                               "--lof-steps", str(args.lof_steps)], args.threads)
        dec_weights = ["--weights", str(args.weights)] if args.weights else []
        dec_s, dec_gb, _ = run_measured(["decompress", str(stream), str(decoded), *dec_weights], args.threads)
        original = np.asarray(Image.open(photo), dtype=np.float64)
        result = np.asarray(Image.open(decoded), dtype=np.float64)
        psnr = 10 * np.log10(255**2 / np.mean((original - result) ** 2))
        report = {"size": args.size, "megapixels": width * height / 1e6, "model": enc_out.split("(")[-1].rstrip(")"),
                  "threads": args.threads, "lof_steps": args.lof_steps, "bytes": stream.stat().st_size,
                  "bpp": 8 * stream.stat().st_size / (width * height), "psnr_db": round(psnr, 2),
                  "compress_s": round(enc_s, 1), "compress_peak_rss_gb": round(enc_gb, 2),
                  "decompress_s": round(dec_s, 1), "decompress_peak_rss_gb": round(dec_gb, 2)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
