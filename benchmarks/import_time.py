"""Start-up time: ``import torch`` next to ``import lic_zoo`` and the light ``lic-zoo`` commands, in one run.

    python benchmarks/import_time.py [--repeats 7]

Each case runs in a fresh interpreter, ``--repeats`` times, the cases interleaved (so that a busy spell of the
machine hits all of them alike); the table gives the median wall time of the whole process. The budget (issue 17):
each lic_zoo case at most ``import torch`` + 0.5 s.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

BUDGET_S = 0.5


def cases(stream: Path) -> dict[str, list[str]]:
    """Case name -> command line."""
    python, cli = [sys.executable], [sys.executable, "-m", "lic_zoo.cli"]
    return {
        "python (no import)": [*python, "-c", "pass"],
        "import torch": [*python, "-c", "import torch"],
        "import lic_zoo": [*python, "-c", "import lic_zoo"],
        "lic-zoo --version": [*cli, "--version"],
        "lic-zoo --help": [*cli, "--help"],
        "lic-zoo models": [*cli, "models"],
        "lic-zoo info": [*cli, "info", str(stream)],
    }


def wall_time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    from lic_zoo import MSPCodec

    with tempfile.TemporaryDirectory() as folder:
        stream = Path(folder) / "x.lic"
        stream.write_bytes(MSPCodec("lite", quality=3).compress(torch.rand(3, 64, 64), lof_steps=0))
        commands = cases(stream)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                times[name].append(wall_time(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["import torch"]
    print(f"{platform.machine()}, {platform.python_version()}, torch {torch.__version__}, "
          f"median of {args.repeats} fresh processes")
    print("| case | median s | min s | max s | vs import torch |")
    print("|---|---:|---:|---:|---:|")
    for name, values in times.items():
        print(f"| `{name}` | {medians[name]:.2f} | {min(values):.2f} | {max(values):.2f} | "
              f"{medians[name] - base:+.2f} s |")
    over = [name for name in commands if name.startswith(("import lic_zoo", "lic-zoo"))
            and medians[name] > base + BUDGET_S]
    print(f"budget import torch + {BUDGET_S} s: " + ("met" if not over else "exceeded by " + ", ".join(over)))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
