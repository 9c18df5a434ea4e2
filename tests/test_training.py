"""Training: the Lightning CLI (fast_dev_run, 2-process DDP on CPU, kill and resume), export, data errors."""
from __future__ import annotations

import logging
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from lightning.fabric.loggers.tensorboard import _TENSORBOARD_AVAILABLE, _TENSORBOARDX_AVAILABLE

import lic_zoo
from lic_zoo.cli import main as lic_zoo_main
from lic_zoo.errors import CorruptWeightsError, ModelMismatchError, UnknownModelError, WeightsUnavailableError
from lic_zoo.image_io import load_image, tensor_to_pil
from lic_zoo.model.rate import lambda_for
from lic_zoo.training import DatasetError, ImageFolderDataModule, MSPBase, MSPExtra, MSPLightningModule, MSPLite
from lic_zoo.training import cli as training_cli
from lic_zoo.training import resume as training_resume
from lic_zoo.training.cli import main as train_main
from lic_zoo.training.cli import run
from lic_zoo.training.export import CHECKPOINT_KEY, export_checkpoint, read_training_checkpoint
from lic_zoo.training.module import lr_factor
from lic_zoo.training.resume import partial_path, previous_path

from codec_helpers import synthetic_image

pytestmark = pytest.mark.filterwarnings("ignore:LightningCLI's args parameter is intended")  # args given on purpose

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
CROP = 64


def write_images(folder: Path, sizes: list[tuple[int, int]], seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (h, w) in enumerate(sizes):
        tensor_to_pil(synthetic_image(h, w, seed=seed + i)).save(folder / f"img{i:02d}.png")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny training folder (six 96x96 images) and a validation folder (one 176x176 image: big enough for MS-SSIM)."""
    root = tmp_path_factory.mktemp("data")
    return write_images(root / "train", [(96, 96)] * 6), write_images(root / "val", [(176, 176)], seed=100)


def tiny_args(train: Path, val: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        "fit", "--config", str(RECIPES / "msp-lite.yaml"),
        "--data.init_args.train_dir", str(train), "--data.init_args.val_dir", str(val),
        "--data.init_args.crop_size", str(CROP), "--data.init_args.batch_size", "2",
        "--data.init_args.num_workers", "0", "--data.init_args.samples_per_epoch", "8",
        "--trainer.accelerator", "cpu", "--trainer.default_root_dir", str(run_dir),
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.log_every_n_steps", "1", *extra,
    ]


def launch(args: list[str], log: Path, **env_vars: str) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"} | env_vars
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-m", "lic_zoo.train", *args], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def global_step(ckpt: Path) -> int:
    return int(torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"])


@pytest.fixture(scope="module")
def fast_dev_run_dir(folders, tmp_path_factory) -> Path:
    train, val = folders
    run_dir = tmp_path_factory.mktemp("fast_dev_run")
    run(tiny_args(train, val, run_dir, "--trainer.fast_dev_run", "1"))
    return run_dir


def test_fast_dev_run_through_cli_leaves_a_loadable_checkpoint(fast_dev_run_dir):
    ckpt = fast_dev_run_dir / "checkpoints" / "final.ckpt"
    assert global_step(ckpt) == 1
    module = MSPLite.load_from_checkpoint(ckpt, map_location="cpu")
    assert module.codec.config == read_training_checkpoint(ckpt)[1]
    assert module.codec.lmbda == lic_zoo.get_entry("msp-lite", quality=3).lmbda


def test_the_variable_rate_recipe_trains_one_codec_for_every_quality(folders, tmp_path, capsys):
    """Warm start from the fixed-rate q3 weights, a quality per crop, validation per quality, gain units on
    their own learning rate, the reference quality's gains pinned; the exported checkpoint serves fractional
    qualities."""
    train, val = folders
    args = tiny_args(train, val, tmp_path / "run", "--trainer.max_steps", "4", "--trainer.devices", "1",
                     "--trainer.strategy", "auto", "--model.init_args.val_qualities", "[0, 8]")
    args[2] = str(RECIPES / "msp-lite-variable.yaml")
    run(args)
    ckpt = tmp_path / "run" / "checkpoints" / "final.ckpt"
    module = MSPLite.load_from_checkpoint(ckpt, map_location="cpu")
    assert module.codec.qualities == (0, 9) and module.hparams.gain_lr == 3e-3
    gains = module.codec.gains
    reference = gains.reference - gains.first
    assert not gains.log_gain[reference].any() and not gains.log_inverse_gain[reference].any()  # pinned at 1
    start = torch.tensor([0.5 * math.log(lambda_for("mse", q) / lambda_for("mse", 3)) for q in range(10)])
    assert not torch.equal(gains.log_gain.detach(), start[:, None].expand_as(gains.log_gain))  # the others moved
    optimizer = torch.load(ckpt, map_location="cpu", weights_only=True)["optimizer_states"][0]
    assert [g["name"] for g in optimizer["param_groups"]] == ["main", "gains", "aux"]
    metrics = _logged(next((tmp_path / "run" / "lightning_logs").glob("version_*")))
    assert "val/q0/real_bpp" in metrics and "val/q8/real_bpp" in metrics
    codec = lic_zoo.load_local(export_checkpoint(ckpt, tmp_path / "exported"))
    assert codec.variable_rate and codec.qualities == (0, 9)
    result = codec.encode(synthetic_image(48, 64), quality=4.5, lof_steps=0)
    assert torch.equal(codec.decompress(result.data), result.x_hat)


def test_test_and_predict_subcommands_use_a_checkpoint(fast_dev_run_dir, folders, capsys):
    train, val = folders
    args = tiny_args(train, val, fast_dev_run_dir)[1:]  # without "fit"
    ckpt = str(fast_dev_run_dir / "checkpoints" / "final.ckpt")
    run(["test", *args, "--ckpt_path", ckpt])
    assert "test/real_bpp" in capsys.readouterr().out
    run(["predict", *args, "--ckpt_path", ckpt])


def test_export_round_trip_compresses_and_decompresses(fast_dev_run_dir, tmp_path):
    out = tmp_path / "exported"
    assert lic_zoo_main(["export", str(fast_dev_run_dir / "checkpoints" / "final.ckpt"), str(out),
                         "--model", "msp-lite", "--quality", "3"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    codec = lic_zoo.load_local(out)
    image = synthetic_image(48, 80, seed=7)
    data = codec.compress(image)
    decoded = codec.decompress(data)
    assert decoded.shape == image.shape
    assert torch.equal(decoded, codec.encode(image).x_hat)


def test_export_refuses_mismatching_checkpoints(fast_dev_run_dir, tmp_path):
    ckpt = fast_dev_run_dir / "checkpoints" / "final.ckpt"
    with pytest.raises(ModelMismatchError, match="quality 3, not 5"):
        export_checkpoint(ckpt, tmp_path / "a", quality=5)
    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
    checkpoint[CHECKPOINT_KEY]["codec_config"] = MSPBase().codec.config  # weights of lite, config of base
    torch.save(checkpoint, tmp_path / "tampered.ckpt")
    with pytest.raises(ModelMismatchError, match="do not match the msp-base config"):
        export_checkpoint(tmp_path / "tampered.ckpt", tmp_path / "b")
    checkpoint[CHECKPOINT_KEY]["codec_config"]["profile"] = dict(lic_zoo.PROFILES["lite"].to_dict(), context_blocks=3)
    torch.save(checkpoint, tmp_path / "tampered.ckpt")
    with pytest.raises(ModelMismatchError, match="differs from lic_zoo's profile"):
        export_checkpoint(tmp_path / "tampered.ckpt", tmp_path / "c")
    (tmp_path / "garbage.ckpt").write_bytes(b"\x80\x02garbage")
    with pytest.raises(CorruptWeightsError, match="not a readable checkpoint"):
        export_checkpoint(tmp_path / "garbage.ckpt", tmp_path / "d")
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(ModelMismatchError, match="not a lic_zoo training checkpoint"):
        export_checkpoint(tmp_path / "other.ckpt", tmp_path / "d")
    assert not any((tmp_path / name).exists() for name in "abcd")


class _Payload:
    """Unpickling this runs code: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("use", ["export", "init_from"])
def test_checkpoints_are_never_unpickled(fast_dev_run_dir, tmp_path, use):
    checkpoint = torch.load(fast_dev_run_dir / "checkpoints" / "final.ckpt", map_location="cpu", weights_only=True)
    checkpoint["extra"] = _Payload(tmp_path / "pwned")
    torch.save(checkpoint, tmp_path / "evil.ckpt")
    with pytest.raises(CorruptWeightsError, match="not a readable checkpoint"):
        if use == "export":
            export_checkpoint(tmp_path / "evil.ckpt", tmp_path / "out")
        else:
            MSPLite(init_from=str(tmp_path / "evil.ckpt")).setup("fit")
    assert not (tmp_path / "pwned").exists()


def test_fine_tuning_starts_from_exported_weights_of_the_same_profile(fast_dev_run_dir, tmp_path):
    out = export_checkpoint(fast_dev_run_dir / "checkpoints" / "final.ckpt", tmp_path / "exported")
    module = MSPLite(quality=4, init_from=str(out))
    module.setup("fit")
    reference = lic_zoo.load_local(out)
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in module.codec.state_dict().items())
    assert module.codec.quality == 4
    with pytest.raises(ModelMismatchError, match="does not fit this msp-base codec"):
        MSPBase(init_from=str(out)).setup("fit")
    with pytest.raises(WeightsUnavailableError, match="no pretrained weights"):
        MSPLite(init_from="msp-lite-mse-q8").setup("fit")


@pytest.mark.slow
def test_ddp_fit_with_two_cpu_processes(folders, tmp_path):
    train, val = folders
    run_dir = tmp_path / "ddp"
    proc = launch(tiny_args(train, val, run_dir, "--trainer.strategy", "ddp", "--trainer.devices", "2",
                            "--trainer.max_steps", "2", "--trainer.limit_train_batches", "2",
                            "--trainer.limit_val_batches", "1", "--trainer.num_sanity_val_steps", "0"),
                  tmp_path / "ddp.log")
    assert proc.wait(timeout=180) == 0, (tmp_path / "ddp.log").read_text()[-3000:]
    ckpt = run_dir / "checkpoints" / "final.ckpt"
    assert global_step(ckpt) == 2
    module = MSPLite.load_from_checkpoint(ckpt, map_location="cpu")
    assert torch.isfinite(module.codec(synthetic_image(64, 64)[None]).bits).all()


def run_folder_outside_tmpdir(where: str, tmp_path: Path) -> Path:
    """A run folder on the same filesystem as the child's $TMPDIR (``tmp``) or on another one (``shm``)."""
    if where == "tmp":
        return tmp_path / "run"
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("no writable /dev/shm to put the run folder on another filesystem than $TMPDIR")
    if os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("/dev/shm is on the same filesystem as the temp folder")
    return Path(tempfile.mkdtemp(dir=shm)) / "run"


@pytest.mark.slow
@pytest.mark.parametrize("where", ["tmp", "shm"])
def test_run_killed_during_a_checkpoint_write_resumes_from_an_intact_checkpoint(folders, tmp_path, where):
    train, val = folders
    run_dir = run_folder_outside_tmpdir(where, tmp_path)
    child_tmp = tmp_path / "child_tmp"
    child_tmp.mkdir()
    last = run_dir / "checkpoints" / "last.ckpt"
    common = ("--periodic_checkpoint.every_n_train_steps", "1", "--trainer.limit_val_batches", "0")
    try:
        for _ in range(5):  # the kill may land just after the rename: then start over
            shutil.rmtree(run_dir, ignore_errors=True)
            proc = launch(tiny_args(train, val, run_dir, *common, "--trainer.max_steps", "100000"),
                          tmp_path / "first.log", TMPDIR=str(child_tmp))
            deadline = time.monotonic() + 120
            try:  # a second last.ckpt being written over the first
                while not (last.exists() and partial_path(last).exists()):
                    assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()
                    time.sleep(0.0005)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            if partial_path(last).exists():
                break
        else:
            pytest.fail("five kills in a row missed the checkpoint writes")
        saved = global_step(last)  # intact: the interrupted write went to the partial file
        assert not (run_dir / "checkpoints" / "final.ckpt").exists()  # it really died mid-training
        assert not list(child_tmp.iterdir())  # nothing written through $TMPDIR
        proc = launch(tiny_args(train, val, run_dir, *common, "--trainer.max_steps", str(saved + 2),
                                "--ckpt_path", "last"), tmp_path / "second.log", TMPDIR=str(child_tmp))
        log = (tmp_path / "second.log")
        assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
        assert "Restored all states from the checkpoint" in log.read_text()
        assert global_step(run_dir / "checkpoints" / "final.ckpt") == saved + 2
        assert not partial_path(last).exists() and global_step(last) == saved + 2
        assert [p.name for p in (run_dir / "lightning_logs").iterdir()] == ["version_0"]  # one run, one log folder
        logged_steps = _logged_steps(run_dir / "lightning_logs" / "version_0")
        # Each step once, up to the end: the killed run's flushed rows, then the resumed run's.
        steps = sorted(logged_steps)
        assert steps == list(range(steps[0], saved + 2)) and steps[0] <= saved, steps
    finally:
        if where == "shm":
            shutil.rmtree(run_dir.parent)


@pytest.mark.slow
def test_damaged_checkpoints_fall_back_to_the_previous_one_or_fail_in_one_line(folders, tmp_path, capsys):
    train, val = folders
    run_dir = tmp_path / "run"
    last = run_dir / "checkpoints" / "last.ckpt"
    common = ("--periodic_checkpoint.every_n_train_steps", "2", "--trainer.limit_val_batches", "0")
    assert train_main(tiny_args(train, val, run_dir, *common, "--trainer.max_steps", "4")) == 0
    assert global_step(last) == 4 and global_step(previous_path(last)) == 2
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # truncated
    capsys.readouterr()
    assert train_main(tiny_args(train, val, run_dir, *common, "--trainer.max_steps", "6", "--ckpt_path", "last")) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "damaged" in line]
    assert len(warning) == 1 and str(last) in warning[0] and "from the previous one" in warning[0], warning
    assert "(step 2)" in warning[0]
    assert global_step(last) == 6 and global_step(previous_path(last)) == 4
    logged_steps = _logged_steps(run_dir / "lightning_logs" / "version_0")
    assert sorted(logged_steps) == list(range(6))  # steps 2-3 of the first run replaced by the resumed run's

    last.write_bytes(b"")
    previous_path(last).write_bytes(b"not a checkpoint")
    assert train_main(tiny_args(train, val, run_dir, *common, "--trainer.max_steps", "8", "--ckpt_path", "last")) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("lic-zoo train: error: checkpoint ") and str(last) in error, error
    assert "0 bytes" in error and str(previous_path(last)) in error, error


def test_a_second_fit_into_a_used_run_folder_is_refused_unless_it_resumes(folders, tmp_path, capsys):
    train, val = folders
    run_dir = tmp_path / "run"
    common = ("--trainer.limit_val_batches", "0", "--periodic_checkpoint.every_n_train_steps", "2")
    assert train_main(tiny_args(train, val, run_dir, *common, "--trainer.max_steps", "2")) == 0
    first = {p.name: p.read_bytes() for p in (run_dir / "checkpoints").iterdir()}
    assert {"last.ckpt", "final.ckpt"} <= set(first)
    capsys.readouterr()
    assert train_main(tiny_args(train, val, run_dir, *common, "--trainer.max_steps", "2")) == 1  # same command again
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"lic-zoo train: error: run folder {run_dir} already holds the checkpoints"), error
    assert "checkpoints/last.ckpt" in error and "pass --ckpt_path last" in error, error
    assert "--trainer.default_root_dir" in error, error
    assert {p.name: p.read_bytes() for p in (run_dir / "checkpoints").iterdir()} == first  # nothing overwritten
    assert [p.name for p in (run_dir / "lightning_logs").iterdir()] == ["version_0"]  # nor a log folder started
    assert train_main(tiny_args(train, val, run_dir, *common, "--trainer.max_steps", "4", "--ckpt_path", "last")) == 0
    checkpoints = run_dir / "checkpoints"
    assert global_step(checkpoints / "final.ckpt") == global_step(checkpoints / "last.ckpt") == 4  # resumed at 2


def tensorboard_path() -> str | None:
    """What a child's PYTHONPATH needs for TensorBoard logging: nothing ("") where tensorboard or tensorboardX is
    installed; else the folder $LIC_ZOO_TEST_TENSORBOARDX, into which .ci/run installs tensorboardX beside the
    environment (in it, Lightning's default logger would be TensorBoard for every test, not the train extra's CSV);
    None without either."""
    if _TENSORBOARD_AVAILABLE or _TENSORBOARDX_AVAILABLE:
        return ""
    folder = os.environ.get("LIC_ZOO_TEST_TENSORBOARDX")
    return folder if folder and (Path(folder) / "tensorboardX").is_dir() else None


@pytest.mark.parametrize("logger", ["csv", "tensorboard"])
def test_a_resumed_fit_logs_on_in_the_runs_log_folder_with_either_default_logger(folders, tmp_path, monkeypatch,
                                                                                  logger):
    """One run, one log folder, for both default loggers: CSV (the train extra; forced here by hiding TensorBoard)
    and TensorBoard (where tensorboard or tensorboardX is installed; in a child process that has tensorboardX). The
    first run logs steps 0-3 but its last checkpoint is of step 2, as when a run is killed between two checkpoints;
    the resumed run logs steps 2-5 into lightning_logs/version_0, and each step is shown once."""
    train, val = folders
    run_dir = tmp_path / "run"
    logs, last = run_dir / "lightning_logs", run_dir / "checkpoints" / "last.ckpt"
    common = ("--periodic_checkpoint.every_n_train_steps", "2", "--trainer.limit_val_batches", "0")
    if logger == "csv":
        for module in (training_cli, training_resume):
            monkeypatch.setattr(module, "_TENSORBOARD_AVAILABLE", False)
            monkeypatch.setattr(module, "_TENSORBOARDX_AVAILABLE", False)
        fit = train_main
    else:
        path = tensorboard_path()
        if path is None:
            pytest.skip("neither tensorboard nor tensorboardX is installed (.ci/run installs tensorboardX)")
        if path:
            monkeypatch.syspath_prepend(path)  # to read the event files here
        child_path = os.pathsep.join(p for p in (str(REPO), path, os.environ.get("PYTHONPATH", "")) if p)

        def fit(args: list[str]) -> int:
            proc = launch(args, tmp_path / "fit.log", PYTHONPATH=child_path)
            assert proc.wait(timeout=120) == 0, (tmp_path / "fit.log").read_text()[-3000:]
            return 0

    assert fit(tiny_args(train, val, run_dir, *common, "--trainer.max_steps", "4")) == 0
    os.replace(previous_path(last), last)  # the checkpoint of step 4 never written
    assert global_step(last) == 2
    assert fit(tiny_args(train, val, run_dir, *common, "--trainer.max_steps", "6", "--ckpt_path", "last")) == 0
    assert global_step(run_dir / "checkpoints" / "final.ckpt") == 6
    assert [p.name for p in logs.iterdir()] == ["version_0"]  # no stray version_1
    folder = logs / "version_0"
    assert "max_steps: 6" in (folder / "config.yaml").read_text()  # the resumed run's config, in the same folder
    event_files = sorted(folder.glob("events.out.tfevents.*"))
    if logger == "csv":
        assert not event_files and (folder / "metrics.csv").exists()
    else:
        assert not (folder / "metrics.csv").exists()
        assert len(event_files) == 2, event_files  # the first run's, then the resumed run's
        first, resumed = sorted((_read_events(path) for path in event_files), key=lambda e: e[0].wall_time)

        def loss_steps(events: list) -> list[int]:
            return [e.step for e in events for v in e.summary.value if v.tag == "train/loss"]

        assert loss_steps(first) == [0, 1, 2, 3] and loss_steps(resumed) == [2, 3, 4, 5]
        purges = [e.step for e in resumed if e.HasField("session_log") and e.session_log.status == e.session_log.START]
        assert purges == [2]  # TensorBoard hides the first run's steps 2-3
    assert _logged_steps(folder) == list(range(6))  # each step once, in order: the killed run's 2-3 replaced


# What Lightning prints at every start or in a run shorter than one validation, and nothing a user can act on.
LIGHTNING_NOISE = ("tensorboardX", "litlogger", "Tip:", "could not find the monitored key", "LeafSpec",
                   "exists and is not empty")


def test_a_short_fit_prints_none_of_lightnings_noise(folders, tmp_path):
    """2 steps, stopping before the first validation, warnings shown as a user's Python shows them."""
    train, val = folders
    args = tiny_args(train, val, tmp_path / "run", "--trainer.max_steps", "2", "--trainer.num_sanity_val_steps", "0")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}  # Python's default filters
    env |= {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "lic_zoo.train", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert not [line for line in output.splitlines() if any(noise in line for noise in LIGHTNING_NOISE)], output
    assert not re.search(r"\.py:\d+: |Warning", output), output  # nor any other warning
    assert (tmp_path / "run" / "lightning_logs" / "version_0").is_dir()  # logged where Lightning's default logs


def _logged_steps(log_folder: Path) -> list[int]:
    """The steps at which the training loss was logged, in a CSV or TensorBoard log folder."""
    return _logged(log_folder)["train/loss"]


def _logged(log_folder: Path) -> dict[str, list[int]]:
    """Each logged metric's steps, from ``metrics.csv`` or, without one, from the TensorBoard event files read as
    TensorBoard reads them: file after file, oldest first, a purge marker (``SessionLog.START`` at step N, written
    by a resumed run) dropping what earlier files logged at steps from N on."""
    import csv

    if (log_folder / "metrics.csv").exists():
        with open(log_folder / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        return {tag: [int(row["step"]) for row in rows if row[tag]] for tag in (rows[0] if rows else {})}
    logged: dict[str, list[int]] = {}
    for events in sorted(map(_read_events, log_folder.glob("events.out.tfevents.*")), key=lambda e: e[0].wall_time):
        for event in events:
            if event.HasField("session_log") and event.session_log.status == event.session_log.START:
                logged = {tag: [s for s in steps if s < event.step] for tag, steps in logged.items()}
            for value in event.summary.value:
                logged.setdefault(value.tag, []).append(event.step)
    return logged


def _read_events(path: Path) -> list:
    """The events of one TensorBoard event file (TFRecords: length, its CRC, the event, its CRC); a record cut
    short by a kill ends it."""
    try:
        from tensorboard.compat.proto.event_pb2 import Event
    except ImportError:
        from tensorboardX.proto.event_pb2 import Event
    data, events, at = path.read_bytes(), [], 0
    while at + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        if at + 12 + length + 4 > len(data):
            break
        events.append(Event.FromString(data[at + 12 : at + 12 + length]))
        at += 12 + length + 4
    return events


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_recipes_parse_through_lic_zoo_train(recipe, capsys):
    with pytest.raises(SystemExit) as exit_info:
        lic_zoo_main(["train", "fit", "--config", str(RECIPES / recipe), "--data.init_args.train_dir", "x",
                      "--print_config"])
    assert exit_info.value.code == 0
    assert "class_path: lic_zoo.training.MSP" in capsys.readouterr().out


def test_one_module_trains_every_profile_and_the_aliases_only_change_its_default():
    for name, profile in lic_zoo.PROFILES.items():
        module = MSPLightningModule(profile=name, quality=2)
        assert module.codec.profile == profile and module.hparams.profile == name
    assert MSPLightningModule().codec.model_name == "msp-lite"
    for alias, name in ((MSPLite, "lite"), (MSPBase, "base"), (MSPExtra, "extra")):
        module = alias(quality=2)
        assert module.hparams.profile == name == alias.PROFILE and module.codec.profile.name == name
    with pytest.raises(UnknownModelError, match="unknown profile 'huge'"):
        MSPLightningModule(profile="huge")


def test_checkpoints_from_before_the_profile_argument_still_load(fast_dev_run_dir, tmp_path):
    checkpoint = torch.load(fast_dev_run_dir / "checkpoints" / "final.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["hyper_parameters"].pop("profile") == "lite"
    torch.save(checkpoint, tmp_path / "old.ckpt")
    for cls in (MSPLite, MSPLightningModule):
        module = cls.load_from_checkpoint(tmp_path / "old.ckpt", map_location="cpu")
        assert module.codec.config == checkpoint[CHECKPOINT_KEY]["codec_config"]


def test_modules_validate_their_arguments():
    with pytest.raises(UnknownModelError, match=r"outside mse's ladder 0\.\.9"):
        MSPLite(quality=10)
    assert MSPLite(lmbda=0.5).codec.lmbda == 0.5


def test_lr_schedule_warms_up_then_decays_to_the_final_factor():
    factor = lambda step: lr_factor(step, warmup=10, total=110, final=0.1, schedule="cosine")  # noqa: E731
    assert factor(0) == pytest.approx(0.1) and factor(9) == 1.0 and factor(10) == 1.0
    assert factor(60) == pytest.approx(0.55) and factor(110) == pytest.approx(0.1) and factor(500) == pytest.approx(0.1)
    assert lr_factor(50, warmup=0, total=100, final=0.1, schedule="constant") == 1.0


# ----------------------------------------------------------------- data


def test_empty_or_missing_folders_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(DatasetError, match="has no image files"):
        ImageFolderDataModule(str(tmp_path / "empty"), val_images=1).setup("fit")
    with pytest.raises(DatasetError, match="does not exist"):
        ImageFolderDataModule(str(tmp_path / "missing"), val_images=1).setup("fit")
    (tmp_path / "empty" / "bad.png").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="none of its 1 image file"):
        ImageFolderDataModule(str(tmp_path / "empty"), val_images=1).setup("fit")


def test_an_unset_train_dir_says_how_to_set_it(tmp_path, capsys):
    """The recipes' train_dir is ``???``: forgetting --data.init_args.train_dir stops before anything is built."""
    with pytest.raises(DatasetError, match="train_dir must be set"):
        ImageFolderDataModule("???").setup("fit")
    run_dir = tmp_path / "run"
    args = ["fit", "--config", str(RECIPES / "msp-lite.yaml"), "--trainer.max_steps", "1",
            "--trainer.default_root_dir", str(run_dir)]
    assert train_main(args) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == ("lic-zoo train: error: train_dir must be set: pass --data.init_args.train_dir DIR "
                     "(a folder of training images)"), error
    assert not run_dir.exists()


def test_unreadable_files_are_skipped_and_reported(tmp_path, caplog):
    train = write_images(tmp_path / "train", [(80, 80)] * 3)
    (train / "img00.png").write_bytes(b"not a png")  # unreadable header: dropped at setup
    good = (train / "img01.png").read_bytes()
    (train / "img01.png").write_bytes(good[: len(good) // 2])  # truncated pixels: fails only when decoded
    data = ImageFolderDataModule(str(train), val_dir=str(train), val_images=None, crop_size=CROP, batch_size=2,
                                 samples_per_epoch=4, num_workers=0)
    with caplog.at_level(logging.WARNING):
        data.setup("fit")
        batches = list(data.train_dataloader())
    assert "skipping 1 unreadable file" in caplog.text and "img00.png" in caplog.text
    assert "skipping unreadable image" in caplog.text and "img01.png" in caplog.text
    assert [b.shape for b in batches] == [(2, 3, CROP, CROP)] * 2
    assert all(torch.isfinite(b).all() for b in batches)


@pytest.mark.parametrize("policy", ["upscale", "pad", "skip"])
def test_images_smaller_than_the_crop(policy, tmp_path, caplog):
    train = write_images(tmp_path / "train", [(40, 50), (100, 100), (100, 100)])
    data = ImageFolderDataModule(str(train), val_images=1, crop_size=CROP, batch_size=1, small_images=policy,
                                 num_workers=0)
    with caplog.at_level(logging.WARNING):
        data.setup("fit")
    assert len(data.train_set.files) == (1 if policy == "skip" else 2)
    assert ("smaller than the 64x64 crop" in caplog.text) == (policy == "skip")
    assert all(data.train_set[i].shape == (3, CROP, CROP) for i in range(len(data.train_set)))
    assert data.val_set[0].shape == (3, 100, 100)


def test_all_images_too_small_to_skip(tmp_path):
    train = write_images(tmp_path / "train", [(40, 40)] * 2)
    with pytest.raises(DatasetError, match="smaller than the 64x64 crop"):
        ImageFolderDataModule(str(train), val_images=1, crop_size=CROP, small_images="skip").setup("fit")


def test_crops_are_random_windows_with_flips(tmp_path):
    train = write_images(tmp_path / "train", [(80, 72)] * 2)
    data = ImageFolderDataModule(str(train), val_images=1, crop_size=CROP, batch_size=1, num_workers=0)
    data.setup("fit")
    source = data.val_set.files  # the held-out image is the second one; crops come from the first
    image = load_image(data.train_set.files[0].path)[0]
    windows = image.unfold(1, CROP, 1).unfold(2, CROP, 1).permute(1, 2, 0, 3, 4).reshape(-1, 3, CROP, CROP)
    found = set()
    for _ in range(16):
        crop = data.train_set[0]
        for flips in ((), (-1,), (-2,), (-1, -2)):
            match = (windows == crop.flip(flips) if flips else windows == crop).flatten(1).all(1).nonzero()
            if len(match):
                found.add((flips, int(match[0])))
                break
        else:
            pytest.fail("a crop is not a (flipped) window of its image")
    assert source[0].path.name == "img01.png"
    assert len({flips for flips, _ in found}) > 1 and len({pos for _, pos in found}) > 1


def test_run_folders_are_named_by_the_profile_argument_or_the_alias_default():
    from argparse import Namespace

    from lic_zoo.training.cli import run_name

    args = Namespace(profile="base", metric="mse", quality=3, lmbda=None)
    assert run_name("lic_zoo.training.MSPLightningModule", args) == "msp-base-mse-q3"
    assert run_name("lic_zoo.training.MSPExtra", Namespace(metric="ms-ssim", quality=2, lmbda=0.5)) == \
        "msp-extra-ms-ssim-q2-lmbda0.5"


@pytest.mark.parametrize("proxy", ["noise", "round"])
def test_the_rate_proxy_chooses_noise_or_the_coded_rounded_rate(proxy, monkeypatch):
    """rate_proxy="round" trains on the rate the coder pays (the eval-mode estimate), "noise" on a noisy one."""
    module = MSPLite(quality=3, rate_proxy=proxy)
    batch = synthetic_image(64, 64)[None]
    module.codec.eval()
    coded_bits = module.codec(batch).bits
    module.codec.train()
    seen = []
    forward = module.codec.forward
    monkeypatch.setattr(module.codec, "forward", lambda *a, **k: seen.append(out := forward(*a, **k)) or out)
    monkeypatch.setattr(module, "optimizers", lambda: torch.optim.SGD(module.parameters(), lr=0.0))
    monkeypatch.setattr(module, "manual_backward", lambda loss: loss.backward())
    monkeypatch.setattr(module, "clip_gradients", lambda *a, **k: None)
    monkeypatch.setattr(module, "lr_schedulers", lambda: torch.optim.lr_scheduler.LambdaLR(
        torch.optim.SGD(module.parameters(), lr=0.0), lambda step: 1.0))
    monkeypatch.setattr(module, "log_dict", lambda *a, **k: None)
    module.training_step(batch, 0)
    assert torch.equal(seen[0].bits.detach(), coded_bits) == (proxy == "round")
