"""One way to name weights: registered ids, hf-hub:ORG/NAME[@REVISION], folders and training .ckpt files; ambiguous
names are refused with one typed line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hub_server import HubServer
from PIL import Image

import lic_zoo
from lic_zoo import MSPCodec
from lic_zoo.cli import main
from lic_zoo.errors import WeightsNameError, WeightsUnavailableError
from lic_zoo.zoo import hub
from lic_zoo.zoo import load_checkpoint
from lic_zoo.zoo.weights_source import CHECKPOINT_KEY, WeightsSource, parse_weights_name, resolve_weights

from codec_helpers import synthetic_image

CHECKPOINT_ID = "msp-lite-mse-q3"


@pytest.fixture(scope="module")
def codec() -> MSPCodec:
    torch.manual_seed(0)
    return MSPCodec("lite", quality=2).eval()


def export(codec: MSPCodec, folder: Path) -> Path:
    return hub.save_pretrained(codec.state_dict(), codec.config, folder, dtype=torch.float32)


def training_checkpoint(codec: MSPCodec, path: Path) -> Path:
    """What Lightning writes for MSPLightningModule, in the parts the resolver reads."""
    state = {f"codec.{name}": tensor for name, tensor in codec.state_dict().items()}
    torch.save({"state_dict": state, CHECKPOINT_KEY: {"codec_config": codec.config}, "global_step": 1}, path)
    return path


def assert_same_state(actual: dict[str, torch.Tensor], codec: MSPCodec) -> None:
    expected = codec.state_dict()
    assert actual.keys() == expected.keys()
    assert all(torch.equal(actual[name], tensor) for name, tensor in expected.items())


def one_line(caught: pytest.ExceptionInfo) -> str:
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- parsing: each name one source ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    (CHECKPOINT_ID, WeightsSource("checkpoint", CHECKPOINT_ID)),
    ("hf-hub:someone/my-codec", WeightsSource("hub", "someone/my-codec")),
    ("hf-hub:someone/my-codec@v1.0", WeightsSource("hub", "someone/my-codec", "v1.0")),
    ("./someone/my-codec", WeightsSource("folder", "./someone/my-codec")),
    ("/abs/exported", WeightsSource("folder", "/abs/exported")),
    ("exported", WeightsSource("folder", "exported")),
    ("runs/a/checkpoints/last.ckpt", WeightsSource("training", "runs/a/checkpoints/last.ckpt")),
    (Path("someone/my-codec"), WeightsSource("folder", "someone/my-codec")),  # a Path is always a path
    (Path(CHECKPOINT_ID), WeightsSource("folder", CHECKPOINT_ID)),
])
def test_each_spelling_names_one_source(name, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_weights_name(name) == expected
    if isinstance(name, str):
        assert str(parse_weights_name(name)) == name


def test_ambiguous_names_are_refused_with_both_spellings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "someone" / "my-codec").mkdir(parents=True)
    with pytest.raises(WeightsNameError) as caught:
        parse_weights_name("someone/my-codec")
    assert "write ./someone/my-codec for the path or hf-hub:someone/my-codec for the Hub repo" in one_line(caught)
    assert parse_weights_name("./someone/my-codec").kind == "folder"

    (tmp_path / CHECKPOINT_ID).mkdir()
    with pytest.raises(WeightsNameError, match=f"registered checkpoint and the local path ./{CHECKPOINT_ID}") as caught:
        parse_weights_name(CHECKPOINT_ID)
    one_line(caught)
    assert parse_weights_name(f"./{CHECKPOINT_ID}").kind == "folder"


def test_the_hub_is_always_written_with_its_prefix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsNameError, match="is not a local folder; for the Hub repo write hf-hub:someone/codec"):
        parse_weights_name("someone/codec")
    for bad in ("hf-hub:no-owner", "hf-hub:someone/codec@", "hf-hub:a/b/c"):
        with pytest.raises(WeightsNameError, match="is not a Hub name") as caught:
            parse_weights_name(bad)
        one_line(caught)
    with pytest.raises(WeightsNameError, match="write hf-hub:someone/codec"):
        hub.load_pretrained("someone/codec")


def test_missing_weights_say_what_names_weights(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsUnavailableError, match="no pretrained weights are published for msp-base-mse-q3"):
        resolve_weights("msp-base-mse-q3")
    with pytest.raises(WeightsUnavailableError, match="nothing: no such folder; weights are named by") as caught:
        resolve_weights("nothing")
    with pytest.raises(WeightsUnavailableError, match="gone.ckpt: no such training checkpoint"):
        resolve_weights("gone.ckpt")
    assert "hf-hub:ORG/NAME[@REVISION]" in one_line(caught)


# -- resolving: every source gives (state_dict, config) -------------------------------------------------------------


def test_folder_and_training_checkpoint_give_the_same_codec(codec, tmp_path):
    folder = export(codec, tmp_path / "exported")
    ckpt = training_checkpoint(codec, tmp_path / "last.ckpt")
    for name in (folder, str(folder), ckpt, str(ckpt)):
        state, config = resolve_weights(name)
        assert_same_state(state, codec)
        assert MSPCodec.from_config(config).config == codec.config
        assert_same_state(lic_zoo.load_local(name).state_dict(), codec)


def test_a_registered_id_gives_the_published_checkpoint():
    state, config = resolve_weights(CHECKPOINT_ID)
    published = load_checkpoint(next(c for c in lic_zoo.CHECKPOINTS if c.id == CHECKPOINT_ID))
    assert_same_state(state, published)
    assert MSPCodec.from_config(config).config == published.config


def test_a_hub_name_pins_its_revision(codec, tmp_path):
    first = export(codec, tmp_path / "v1")
    torch.manual_seed(5)
    second = MSPCodec("lite", quality=2).eval()
    with HubServer(token="hf_test_token") as server:
        options = {"token": server.token, "endpoint": server.url}
        sha = hub.push_to_hub(first, "someone/my-codec", **options)
        hub.push_to_hub(export(second, tmp_path / "v2"), "someone/my-codec", **options)
        pinned, _ = resolve_weights(f"hf-hub:someone/my-codec@{sha}", endpoint=server.url)
        latest, _ = resolve_weights("hf-hub:someone/my-codec", endpoint=server.url)
        with pytest.raises(WeightsNameError, match="names revision"):
            hub.load_pretrained(f"hf-hub:someone/my-codec@{sha}", revision="main", endpoint=server.url)
    assert_same_state(pinned, codec)
    assert_same_state(latest, second)


def test_reading_a_training_checkpoint_needs_no_lightning(codec, tmp_path):
    ckpt = training_checkpoint(codec, tmp_path / "last.ckpt")
    script = ("import sys\nfor name in ('lightning', 'jsonargparse', 'torchmetrics'): sys.modules[name] = None\n"
              f"import lic_zoo\nprint(lic_zoo.load_local({str(ckpt)!r}).model_name)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "msp-lite"


# -- the callers: the CLI's --weights and fine-tuning's init_from ---------------------------------------------------


def test_cli_weights_take_every_spelling_and_refuse_ambiguous_ones(codec, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    export(codec, tmp_path / "someone" / "my-codec")
    training_checkpoint(codec, tmp_path / "last.ckpt")
    Image.fromarray((synthetic_image(24, 40).permute(1, 2, 0).numpy() * 255).astype("uint8")).save("in.png")
    for weights in ("./someone/my-codec", "last.ckpt", str(tmp_path / "someone" / "my-codec")):
        assert main(["compress", "in.png", "out.lic", "--weights", weights]) == 0
        assert main(["decompress", "out.lic", "out.png", "--weights", weights]) == 0
    capsys.readouterr()
    assert main(["compress", "in.png", "out.lic", "--weights", "someone/my-codec"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lic-zoo compress: error: 'someone/my-codec' is both a local path")
    assert main(["compress", "in.png", "zoo.lic", "--weights", CHECKPOINT_ID]) == 0
    assert main(["decompress", "zoo.lic", "zoo.png"]) == 0  # the registered weights: the stream finds them itself


def test_init_from_takes_a_training_checkpoint_and_refuses_an_ambiguous_name(codec, tmp_path, monkeypatch):
    pytest.importorskip("lightning")
    from lic_zoo.training import MSPLightningModule

    monkeypatch.chdir(tmp_path)
    module = MSPLightningModule(quality=4, init_from=str(training_checkpoint(codec, tmp_path / "last.ckpt")))
    module.setup("fit")
    assert_same_state(module.codec.state_dict(), codec)
    export(codec, tmp_path / "someone" / "my-codec")
    with pytest.raises(WeightsNameError, match="write ./someone/my-codec"):
        MSPLightningModule(init_from="someone/my-codec").setup("fit")
