"""``lic-zoo eval | bdrate | plot``, the runner's results files, and the metrics."""
from __future__ import annotations

import io
import json
import math
import zlib
from pathlib import Path

import lic_zoo
import numpy as np
import pytest
import torch
from PIL import Image

from lic_zoo.cli import main
from lic_zoo.errors import MissingDependencyError, WeightsUnavailableError
from lic_zoo.evaluation import classic
from lic_zoo.evaluation.metrics import MS_SSIM_MIN_SIDE, ms_ssim_rgb, psnr_rgb
from lic_zoo.evaluation.plot import plot_rd
from test_bdrate import MBT2018, VTM
from test_classic_codecs import rgb_image

RESULT_KEYS = ["bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"]


@pytest.fixture
def dataset(tmp_path):
    """Two small PNGs (MS-SSIM is undefined at this size) and a file that is not an image."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(rgb_image(seed=i)).save(folder / f"img{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_eval_jpeg_writes_compressai_shaped_results(dataset, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["eval", str(dataset), "--codec", "jpeg", "--settings", "20,80", "-o", str(out)]) == 0
    summary, per_image = load_json(out / "jpeg.json"), load_json(out / "per-image" / "jpeg.json")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["jpeg.json", "per-image", "per-image/jpeg.json"]
    assert summary["name"] and summary["description"] and sorted(summary["results"]) == sorted(RESULT_KEYS)
    assert summary["settings"] == [20, 80] and all(len(v) == 2 for v in summary["results"].values())
    assert summary["meta"]["images"] == ["img0", "img1"]
    records = per_image["records"]
    assert len(records) == 4 and {r["setting"] for r in records} == {20, 80}
    # Real bytes: the whole JPEG file, as Pillow writes it.
    buf = io.BytesIO()
    Image.open(dataset / "img0.png").convert("RGB").save(buf, "JPEG", quality=20, subsampling=2)
    first = records[0]
    assert (first["image"], first["setting"], first["bytes"]) == ("img0", 20, len(buf.getvalue()))
    assert first["bpp"] == pytest.approx(first["bytes"] * 8 / (64 * 96))
    # One point per setting: the mean over images (PSNR: mean of the dB values).
    for i, setting in enumerate([20, 80]):
        group = [r for r in records if r["setting"] == setting]
        for key in ("bpp", "psnr-rgb", "encoding_time", "decoding_time"):
            assert summary["results"][key][i] == pytest.approx(np.mean([r[key] for r in group]))
    assert summary["results"]["bpp"][0] < summary["results"]["bpp"][1]
    assert summary["results"]["ms-ssim-rgb"] == [None, None]  # images under 176 px
    assert "jpeg.json" in capsys.readouterr().out


def test_eval_shows_a_progress_bar(dataset, tmp_path, capsys):
    assert main(["eval", str(dataset), "--codec", "webp", "--settings", "50", "-o", str(tmp_path)]) == 0
    assert "100%" in capsys.readouterr().err


def test_missing_optional_codec_is_skipped_with_a_message(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(classic.Heic, "available", classmethod(lambda cls: False))
    out = tmp_path / "results"
    argv = ["eval", str(dataset), "--codec", "heic", "--codec", "jpeg", "--settings", "50", "--no-progress"]
    assert main([*argv, "-o", str(out)]) == 0
    assert "skipping heic: needs pillow-heif" in capsys.readouterr().err
    assert sorted(p.name for p in out.glob("*.json")) == ["jpeg.json"]
    # Nothing at all to run is an error, still a one-line message.
    assert main(["eval", str(dataset), "--codec", "heic", "-o", str(out)]) == 1
    assert "none of the requested codecs is available" in capsys.readouterr().err


def test_unknown_codec_and_empty_folder_are_one_line_errors(dataset, tmp_path, capsys):
    assert main(["eval", str(dataset), "--codec", "jpeg,nope", "-o", str(tmp_path)]) == 1
    assert "unknown codec 'nope'" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["eval", str(empty), "--codec", "jpeg", "-o", str(tmp_path)]) == 1
    assert "no images" in capsys.readouterr().err


class FakeCodec:
    """Stands in for a zoo codec: 8-bit samples, quantised more coarsely at lower quality, zlib-packed."""

    calls: list[dict] = []

    def __init__(self, quality: int) -> None:
        self.step = 2 ** (6 - quality)

    def compress(self, img: torch.Tensor, **kwargs) -> bytes:
        assert img.dtype == torch.float32 and img.shape[0] == 3 and 0 <= img.min() and img.max() <= 1
        FakeCodec.calls.append(kwargs)
        q = (img * 255 / self.step).round().to(torch.uint8).numpy()
        return np.array(q.shape, dtype=np.uint16).tobytes() + zlib.compress(q.tobytes(), 9)

    def decompress(self, data: bytes) -> torch.Tensor:
        shape = tuple(np.frombuffer(data[:6], dtype=np.uint16))
        q = np.frombuffer(zlib.decompress(data[6:]), dtype=np.uint8).reshape(shape)
        return torch.from_numpy(q * self.step / 255.0).float().clamp(0, 1)


def test_eval_zoo_codec_through_lic_zoo_load(dataset, tmp_path, monkeypatch):
    loaded = []

    def fake_load(name, *, quality, metric, pretrained):
        loaded.append((name, quality, metric, pretrained))
        return FakeCodec(quality)

    monkeypatch.setattr(lic_zoo, "load", fake_load, raising=False)
    FakeCodec.calls = []
    out = tmp_path / "results"
    argv = ["eval", str(dataset), "--codec", "msp-lite", "--qualities", "1-2", "--lof-steps", "3", "--no-progress"]
    assert main([*argv, "-o", str(out)]) == 0
    summary = load_json(out / "msp-lite-mse-lof3.json")
    assert summary["settings"] == [1, 2] and summary["name"] == "msp-lite (mse, LOF 3)"
    bpp, psnr = summary["results"]["bpp"], summary["results"]["psnr-rgb"]
    assert bpp[0] < bpp[1] and psnr[0] < psnr[1]
    assert {c["lof_steps"] for c in FakeCodec.calls} == {3}
    assert ("msp-lite", 1, "mse", True) in loaded and ("msp-lite", 2, "mse", True) in loaded


def test_eval_zoo_codec_without_weights_fails_with_one_line(dataset, tmp_path, monkeypatch, capsys):
    def no_weights(name, **kwargs):
        raise WeightsUnavailableError(f"no pretrained weights are published for {name} yet")

    monkeypatch.setattr(lic_zoo, "load", no_weights, raising=False)
    out = tmp_path / "results"
    assert main(["eval", str(dataset), "--codec", "msp-lite", "--qualities", "1", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "lic-zoo eval: error: no pretrained weights are published for msp-lite yet"
    assert not out.exists() or not any(out.iterdir())


def test_eval_rejects_a_quality_outside_the_zoo(dataset, tmp_path, capsys):
    assert main(["eval", str(dataset), "--codec", "msp-lite", "--qualities", "9-10", "-o", str(tmp_path)]) == 1
    assert "quality" in capsys.readouterr().err


def test_eval_real_zoo_codec_api(dataset, tmp_path, monkeypatch):
    """The learned-codec path against the real ``lic_zoo.load`` (untrained weights: only the plumbing counts)."""
    real_load = lic_zoo.load
    monkeypatch.setattr(lic_zoo, "load", lambda name, **kw: real_load(name, **{**kw, "pretrained": False}))
    argv = ["eval", str(dataset), "--codec", "msp-lite", "--qualities", "1", "--lof-steps", "0", "--limit", "1"]
    assert main([*argv, "--no-progress", "-o", str(tmp_path)]) == 0
    (record,) = load_json(tmp_path / "per-image" / "msp-lite-mse-lof0.json")["records"]
    assert record["bytes"] > 0 and math.isfinite(record["psnr-rgb"])


def test_eval_exported_checkpoints(dataset, tmp_path):
    """--weights evaluates exported folders: model, metric and qualities come from their config.json."""
    from lic_zoo.zoo.hub import save_pretrained

    for quality in (2, 5):
        torch.manual_seed(quality)
        codec = lic_zoo.MSPCodec("lite", quality=quality)
        save_pretrained(codec.state_dict(), codec.config, tmp_path / f"q{quality}")
    argv = ["eval", str(dataset), "--weights", str(tmp_path / "q5"), "--weights", str(tmp_path / "q2"),
            "--lof-steps", "0", "--limit", "1", "--no-progress", "-o", str(tmp_path / "out")]
    assert main(argv) == 0
    assert load_json(tmp_path / "out" / "msp-lite-mse-lof0.json")["settings"] == [2, 5]


def write_results(path, name, curve):
    results = {"bpp": curve[0], "psnr-rgb": curve[1], "ms-ssim-rgb": [1 - 10 ** (-p / 40) for p in curve[1]]}
    path.write_text(json.dumps({"name": name, "description": "", "results": results}))
    return str(path)


def test_bdrate_command(tmp_path, capsys):
    vtm, mbt = write_results(tmp_path / "vtm.json", "VTM", VTM), write_results(tmp_path / "mbt.json", "mbt2018", MBT2018)
    assert main(["bdrate", vtm, mbt, "--method", "cubic"]) == 0
    out = capsys.readouterr().out
    assert "vs VTM" in out and "+10.6" in out
    assert main(["bdrate", "--anchor", vtm, "--anchor", mbt, vtm, mbt, "--markdown"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1] == "| codec | vs VTM (cubic) | vs VTM (pchip) | vs mbt2018 (cubic) | vs mbt2018 (pchip) |"
    assert lines[3].startswith("| VTM | +0.00 % | +0.00 % |") and len(lines) == 5
    assert main(["bdrate", vtm, mbt, "--metric", "ms-ssim-rgb"]) == 0


def test_bdrate_without_overlap_reports_and_fails(tmp_path, capsys):
    vtm = write_results(tmp_path / "vtm.json", "VTM", VTM)
    high = write_results(tmp_path / "high.json", "high", ([1, 2, 3, 4], [60, 61, 62, 63]))
    assert main(["bdrate", vtm, high]) == 1
    captured = capsys.readouterr()
    assert "n/a" in captured.out and "do not overlap" in captured.err


def test_plot_command_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    files = [write_results(tmp_path / "vtm.json", "VTM", VTM), write_results(tmp_path / "mbt.json", "mbt", MBT2018)]
    out = tmp_path / "plots" / "rd.png"
    assert main(["plot", *files, "-o", str(out), "--title", "Kodak", "--max-bpp", "2"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", *files, "-o", str(tmp_path / "rd.svg"), "--metric", "ms-ssim-rgb"]) == 0


def test_plot_without_matplotlib_raises_a_typed_error(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match="matplotlib"):
        plot_rd([write_results(tmp_path / "vtm.json", "VTM", VTM)], tmp_path / "rd.png")


def test_metrics_psnr_and_ms_ssim():
    ref = rgb_image(MS_SSIM_MIN_SIDE, MS_SSIM_MIN_SIDE + 8)
    noisy = np.clip(ref + np.random.default_rng(0).normal(0, 4, ref.shape), 0, 255).round().astype(np.uint8)
    mse = np.mean((noisy.astype(float) - ref) ** 2)
    assert psnr_rgb(noisy, ref) == pytest.approx(10 * math.log10(255**2 / mse))
    assert psnr_rgb(ref, ref) == math.inf
    assert ms_ssim_rgb(ref, ref) == pytest.approx(1.0)
    assert 0.9 < ms_ssim_rgb(noisy, ref) < 1.0
    assert math.isnan(ms_ssim_rgb(ref[:-9], ref[:-9]))  # under the minimum side: NaN, not fewer scales


def test_ms_ssim_min_side_is_the_smallest_side_torchmetrics_takes():
    """torchmetrics' 5-scale, 11-px MS-SSIM says "larger than 160" but refuses 161..175 too: 176 is the minimum."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms_ssim

    ms_ssim(torch.rand(1, 3, MS_SSIM_MIN_SIDE, MS_SSIM_MIN_SIDE), torch.rand(1, 3, MS_SSIM_MIN_SIDE, MS_SSIM_MIN_SIDE),
            data_range=1.0)
    for side in (161, MS_SSIM_MIN_SIDE - 1):
        with pytest.raises(ValueError, match="larger than 160"):
            ms_ssim(torch.rand(1, 3, side, side), torch.rand(1, 3, side, side), data_range=1.0)


def test_bdrate_on_three_points_gives_pchip_and_succeeds(tmp_path, capsys):
    """The default `--method both` on 3-point curves: cubic does not apply (n/a, reason on stderr), exit 0."""
    vtm = write_results(tmp_path / "vtm.json", "VTM", [c[:3] for c in VTM])
    mbt = write_results(tmp_path / "mbt.json", "mbt2018", [c[:3] for c in MBT2018])
    assert main(["bdrate", vtm, mbt]) == 0
    captured = capsys.readouterr()
    assert "n/a" in captured.out and "%" in captured.out and "at least 4 points" in captured.err
    assert main(["bdrate", vtm, mbt, "--method", "cubic"]) == 1  # asked for cubic only: nothing to show


def test_results_folder_globs_name_summaries_only(dataset, tmp_path, capsys):
    """`lic-zoo plot results/*.json` and `lic-zoo bdrate results/*.json`, as documented, on `eval`'s own output."""
    out = tmp_path / "results"
    for codec in ("jpeg", "webp"):
        assert main(["eval", str(dataset), "--codec", codec, "--settings", "20,50,80", "--no-progress",
                     "-o", str(out)]) == 0
    files = sorted(str(p) for p in out.glob("*.json"))
    assert [Path(f).name for f in files] == ["jpeg.json", "webp.json"]
    assert main(["bdrate", *files]) == 0
    assert main(["plot", *files, "-o", str(tmp_path / "rd.png")]) == 0
    assert (tmp_path / "rd.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["bdrate", *files, str(out / "per-image" / "jpeg.json")]) == 1
    assert "holds per-image records, not a results summary" in capsys.readouterr().err
