"""Same budget, two designs: msp-lite against CompressAI's bmshj2018 hyperprior, trained from scratch here.

Each arm trains for the same wall time on the same crops (128 px, batch 8, flips, the 50 training photos that
lic_zoo's recipes train on), at the same lambda, with the same optimiser (Adam, 300 warm-up steps, cosine over
the wall-time budget to 5 %), then codes the dev set for real: msp-lite through its ``.lic`` files (header
included), the hyperprior through CompressAI's ``compress`` strings. Run the two arms side by side, one thread
each, so they share the machine's load equally:

    python benchmarks/peer_same_budget.py --arm lite --minutes 20 --out /work/runs/peer &
    ~/.venv-cai/bin/python benchmarks/peer_same_budget.py --arm hyperprior --minutes 20 --out /work/runs/peer &

The hyperprior arm needs CompressAI (``../shared/tools/compressai/setup.sh``); the lite arm needs lic_zoo.
Each arm writes ``<out>/<arm>.json``: steps, pixels seen, and the dev-set bpp / PSNR per image and on average.
``--summary <out>`` then prints both arms side by side as a markdown table: the dev-set RD loss both minimise
(``bpp + lambda * 255^2 * MSE``, per image, averaged) and each point's PSNR against the classic codecs' curves
(``docs/results/{jpeg,webp}.json``) at the same bpp.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
HELD_OUT = 4  # the recipes hold out the last four training photos for validation


def _stub_torchvision() -> None:
    """CompressAI imports torchvision.transforms only to list transforms; the PyPI build does not load here."""
    try:
        import torchvision.transforms  # noqa: F401
    except Exception:
        for name in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[name]
        tv = types.ModuleType("torchvision")
        tv.__path__ = []
        tv.transforms = types.ModuleType("torchvision.transforms")
        sys.modules["torchvision"], sys.modules["torchvision.transforms"] = tv, tv.transforms


def _to_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1).contiguous()


def _at_least(img: Image.Image, side: int) -> Image.Image:
    """Upscale (bicubic, aspect kept) an image smaller than ``side``, as lic_zoo's training data does."""
    if min(img.size) >= side:
        return img
    factor = side / min(img.size)
    return img.resize(tuple(max(side, round(s * factor)) for s in img.size), Image.Resampling.BICUBIC)


class Crops:
    """Random crops with flips from decoded training photos (seeded)."""

    def __init__(self, folder: Path, crop: int, seed: int) -> None:
        paths = sorted(folder.glob("*.png"))[:-HELD_OUT]
        if not paths:
            raise SystemExit(f"no training photos in {folder}")
        self.images = [_to_tensor(_at_least(Image.open(p), crop)) for p in paths]
        self.crop, self.rng = crop, random.Random(seed)

    def batch(self, size: int) -> torch.Tensor:
        out = []
        for _ in range(size):
            img = self.images[self.rng.randrange(len(self.images))]
            top = self.rng.randrange(img.shape[1] - self.crop + 1)
            left = self.rng.randrange(img.shape[2] - self.crop + 1)
            x = img[:, top : top + self.crop, left : left + self.crop]
            if self.rng.random() < 0.5:
                x = x.flip(-1)
            if self.rng.random() < 0.5:
                x = x.flip(-2)
            out.append(x)
        return torch.stack(out)


class LiteArm:
    def __init__(self, lmbda: float) -> None:
        from lic_zoo.codec import MSPCodec

        self.model = MSPCodec("lite", quality=3, lmbda=lmbda)
        self.lmbda = lmbda
        quantiles = self.model.entropy.factorized.quantiles
        self.main = [p for p in self.model.parameters() if p is not quantiles]
        self.aux = [quantiles]

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        bpp = out.bits.mean() / (x.shape[-2] * x.shape[-1])
        return bpp + self.lmbda * 255**2 * F.mse_loss(out.x_hat, x)

    def aux_loss(self) -> torch.Tensor:
        return self.model.aux_loss()

    def code(self, x: torch.Tensor) -> tuple[int, torch.Tensor]:
        data = self.model.compress(x, lof_steps=0)
        return 8 * len(data), self.model.decompress(data)


class HyperpriorArm:
    def __init__(self, lmbda: float) -> None:
        _stub_torchvision()
        from compressai.models import ScaleHyperprior

        self.model = ScaleHyperprior(N=128, M=192)
        self.lmbda = lmbda
        self.main = [p for n, p in self.model.named_parameters() if not n.endswith(".quantiles")]
        self.aux = [p for n, p in self.model.named_parameters() if n.endswith(".quantiles")]

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        bits = sum(-torch.log2(lik).sum() for lik in out["likelihoods"].values())
        bpp = bits / (x.shape[0] * x.shape[-2] * x.shape[-1])
        return bpp + self.lmbda * 255**2 * F.mse_loss(out["x_hat"], x)

    def aux_loss(self) -> torch.Tensor:
        return self.model.aux_loss()

    def code(self, x: torch.Tensor) -> tuple[int, torch.Tensor]:
        h, w = x.shape[-2:]
        padded = F.pad(x[None], (0, (-w) % 64, 0, (-h) % 64), mode="replicate")
        enc = self.model.compress(padded)
        bits = 8 * sum(len(s[0]) for s in enc["strings"])
        x_hat = self.model.decompress(enc["strings"], enc["shape"])["x_hat"][0, :, :h, :w]
        return bits, x_hat.clamp(0, 1)


def lr_factor(step: int, elapsed: float, budget: float) -> float:
    if step < 300:
        return (step + 1) / 300
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / budget)))


def train(arm: LiteArm | HyperpriorArm, crops: Crops, *, seconds: float, batch: int, lr: float) -> dict:
    optimizer = torch.optim.Adam(arm.main, lr=lr)
    aux_optimizer = torch.optim.Adam(arm.aux, lr=1e-3)
    arm.model.train()
    start, step, losses = time.perf_counter(), 0, []
    while (elapsed := time.perf_counter() - start) < seconds:
        for group in optimizer.param_groups:
            group["lr"] = lr * lr_factor(step, elapsed, seconds)
        x = crops.batch(batch)
        loss = arm.loss(x)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(arm.main, 1.0)
        optimizer.step()
        aux_optimizer.zero_grad()
        arm.aux_loss().backward()
        aux_optimizer.step()
        losses.append(loss.item())
        step += 1
        if step % 200 == 0:
            print(f"step {step} {elapsed:.0f} s loss {sum(losses[-200:]) / 200:.4f}", flush=True)
    return {"steps": step, "seconds": time.perf_counter() - start,
            "pixels": step * batch * crops.crop**2, "last_200_loss": sum(losses[-200:]) / max(1, len(losses[-200:]))}


@torch.no_grad()
def evaluate(arm: LiteArm | HyperpriorArm, folder: Path) -> dict:
    arm.model.eval()
    if isinstance(arm, HyperpriorArm):
        arm.model.update(force=True)
    rows = []
    for path in sorted(folder.glob("*.png")):
        x = _to_tensor(Image.open(path))
        bits, x_hat = arm.code(x)
        mse = F.mse_loss(torch.round(x_hat * 255) / 255, x).item()
        rows.append({"image": path.name, "bpp": bits / (x.shape[-2] * x.shape[-1]), "psnr": -10 * math.log10(mse)})
    return {"per_image": rows, "bpp": float(np.mean([r["bpp"] for r in rows])),
            "psnr": float(np.mean([r["psnr"] for r in rows]))}


ANCHORS = Path(__file__).resolve().parents[1] / "docs" / "results"


def psnr_at(anchor: str, bpp: float) -> float:
    """PSNR-RGB of a classic codec's dev-set curve at ``bpp`` (linear in log bpp between its settings)."""
    results = json.loads((ANCHORS / f"{anchor}.json").read_text())["results"]
    return float(np.interp(math.log(bpp), np.log(results["bpp"]), results["psnr-rgb"]))


def summary(out: Path) -> str:
    """Markdown table of the arms' results in ``out``."""
    rows = ["| arm | parameters | steps | s/step | training pixels | dev bpp | dev PSNR dB | dev RD loss "
            "| vs JPEG at equal bpp | vs WebP at equal bpp |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for path in sorted(out.glob("*.json")):
        r = json.loads(path.read_text())
        dev = r["dev"]
        loss = np.mean([i["bpp"] + r["lmbda"] * 255**2 * 10 ** (-i["psnr"] / 10) for i in dev["per_image"]])
        rows.append(f"| {r['arm']} | {r['parameters'] / 1e6:.2f} M | {r['steps']} | {r['seconds'] / r['steps']:.2f} "
                    f"| {r['pixels'] / 1e6:.0f} M | {dev['bpp']:.3f} | {dev['psnr']:.2f} | {loss:.3f} "
                    f"| {dev['psnr'] - psnr_at('jpeg', dev['bpp']):+.2f} dB "
                    f"| {dev['psnr'] - psnr_at('webp', dev['bpp']):+.2f} dB |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", type=Path, metavar="OUT", help="print the table of the arms' results in OUT")
    parser.add_argument("--arm", choices=("lite", "hyperprior"))
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--lmbda", type=float, default=0.0067, help="lambda (default: quality 3's)")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=ROOT, help="folder holding train/ and eval-768x512/")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.summary:
        print(summary(args.summary))
        return
    if args.arm is None or args.out is None:
        parser.error("--arm and --out are required to train an arm")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    arm = (LiteArm if args.arm == "lite" else HyperpriorArm)(args.lmbda)
    params = sum(p.numel() for p in arm.model.parameters())
    crops = Crops(args.data / "train", args.crop, seed=0)
    result = {"arm": args.arm, "parameters": params, "lmbda": args.lmbda, "lr": args.lr, "crop": args.crop,
              "batch_size": args.batch_size, "threads": args.threads,
              **train(arm, crops, seconds=60 * args.minutes, batch=args.batch_size, lr=args.lr)}
    result["dev"] = evaluate(arm, args.data / "eval-768x512")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.arm}.json").write_text(json.dumps(result, indent=1))
    torch.save(arm.model.state_dict(), args.out / f"{args.arm}.pt")
    print(json.dumps({k: v for k, v in result.items() if k != "dev"} | {"bpp": result["dev"]["bpp"],
                                                                         "psnr": result["dev"]["psnr"]}))


if __name__ == "__main__":
    main()
