"""Hub distribution: safetensors checkpoints, the HF cache, offline use, publish/download, model cards, torch.hub.

Nothing here reaches the network: uploads and downloads go to the loopback server of ``hub_server.py`` and
huggingface_hub's default endpoint is pointed at a closed local port.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch
import yaml
from hub_server import HubServer
from huggingface_hub import HfApi, constants, file_download
from safetensors import safe_open

import lic_zoo
from lic_zoo import zoo
from lic_zoo.cli import main
from lic_zoo.codec import MSPCodec
from lic_zoo.errors import CorruptWeightsError, DigestMismatchError, PublishError, WeightsUnavailableError
from lic_zoo.zoo import hub, registry
from lic_zoo.zoo.model_card import rd_rows_from_results, render_model_card

from codec_helpers import CLOSED_ENDPOINT

REPO_DIR = Path(__file__).resolve().parents[1]
REPO_ID = "lic-zoo/msp-lite-mse-q3"


@pytest.fixture
def server():
    with HubServer(token="hf_test_token") as running:
        yield running


class TinyCodec(torch.nn.Module):
    """Stand-in with what the hub layer relies on: float parameters, float and integer buffers, a config."""

    def __init__(self, width: int = 4):
        super().__init__()
        self.config = {"width": width, "name": "tiny"}
        self.conv = torch.nn.Conv2d(3, width, 3)
        self.register_buffer("cdf", torch.arange(12, dtype=torch.int32).reshape(3, 4))
        self.register_buffer("offsets", torch.linspace(-3.0, 3.0, width))


def export(directory: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    codec = TinyCodec()
    hub.save_pretrained(codec.state_dict(), codec.config, directory)
    return codec.state_dict()


def as_stored(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.half().float() if v.is_floating_point() else v for k, v in state_dict.items()}


def assert_same(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert actual.keys() == expected.keys()
    for name, tensor in expected.items():
        assert actual[name].dtype == tensor.dtype and torch.equal(actual[name], tensor), name


def publish(server: HubServer, directory: Path, repo_id: str = REPO_ID) -> str:
    return hub.push_to_hub(directory, repo_id, token=server.token, endpoint=server.url)


# -- local checkpoints --------------------------------------------------------------------------------------------


def test_round_trip_rebuilds_the_codec_strictly(tmp_path: Path) -> None:
    codec = MSPCodec("lite", quality=3)
    hub.save_pretrained(codec.state_dict(), codec.config, tmp_path / "ckpt")
    state, config = hub.load_pretrained(tmp_path / "ckpt")
    rebuilt = MSPCodec.from_config(config)
    result = rebuilt.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert all(t.dtype == torch.float32 for t in state.values() if t.is_floating_point())
    assert_same(rebuilt.state_dict(), as_stored(codec.state_dict()))


def test_files_are_deterministic_narrow_and_sorted(tmp_path: Path) -> None:
    state = TinyCodec().state_dict()
    hub.save_pretrained(state, {"b": 1, "a": [1, 2]}, tmp_path / "one")
    hub.save_pretrained(dict(reversed(state.items())), {"a": [1, 2], "b": 1}, tmp_path / "two", model_card="# card\n")
    for name in (hub.WEIGHTS_NAME, hub.CONFIG_NAME):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert (tmp_path / "one" / hub.CONFIG_NAME).read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    assert not (tmp_path / "one" / hub.CARD_NAME).exists() and (tmp_path / "two" / hub.CARD_NAME).is_file()
    with safe_open(tmp_path / "one" / hub.WEIGHTS_NAME, framework="pt") as file:
        assert file.metadata() == {"format": "pt"}
        assert {name: file.get_slice(name).get_dtype() for name in file.keys()} == {
            "cdf": "I32", "conv.bias": "F16", "conv.weight": "F16", "offsets": "F16"}
    assert not list(tmp_path.glob("*/.*.tmp"))

    hub.save_pretrained(state, {}, tmp_path / "bf16", dtype=torch.bfloat16)
    loaded, _ = hub.load_pretrained(tmp_path / "bf16")
    assert torch.equal(loaded["offsets"], state["offsets"].bfloat16().float())


def test_save_refuses_values_that_overflow_float16(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\['big'\] overflows torch.float16"):
        hub.save_pretrained({"big": torch.tensor([1e6])}, {}, tmp_path)


def test_local_failures_are_typed(tmp_path: Path) -> None:
    expected = as_stored(export(tmp_path / "ckpt"))
    weights = tmp_path / "ckpt" / hub.WEIGHTS_NAME
    good = hub.file_sha256(weights)
    state, _ = hub.load_pretrained(str(tmp_path / "ckpt"), sha256=good.upper())
    assert_same(state, expected)

    with pytest.raises(DigestMismatchError) as caught:
        hub.load_pretrained(tmp_path / "ckpt", sha256="0" * 64)
    assert str(weights) in str(caught.value) and good in str(caught.value) and "0" * 64 in str(caught.value)

    weights.write_bytes(weights.read_bytes()[:-7])
    with pytest.raises(CorruptWeightsError, match="cannot read the checkpoint"):
        hub.load_pretrained(tmp_path / "ckpt")
    with pytest.raises(WeightsUnavailableError, match=r"has no model\.safetensors"):
        hub.load_pretrained(tmp_path)
    with pytest.raises(WeightsUnavailableError, match="no such checkpoint folder"):
        hub.load_pretrained(str(tmp_path / "missing" / "deeper" / "folder"))


# -- the Hub: upload, download, cache, offline --------------------------------------------------------------------


def test_push_then_download_pins_revisions(tmp_path: Path, server: HubServer) -> None:
    first = as_stored(export(tmp_path / "v1", seed=1))
    second = as_stored(export(tmp_path / "v2", seed=2))
    sha1, sha2 = publish(server, tmp_path / "v1"), publish(server, tmp_path / "v2")
    assert re.fullmatch("[0-9a-f]{40}", sha1) and sha1 != sha2

    uploads = [path for method, path in server.requests if method in ("PUT", "POST")]
    assert f"/{REPO_ID}.git/info/lfs/objects/batch" in uploads and f"/api/models/{REPO_ID}/commit/main" in uploads
    assert not any("xet" in path for path in uploads)
    assert HfApi(endpoint=server.url).model_info(REPO_ID).sha == sha2
    assert {s.rfilename for s in HfApi(endpoint=server.url).model_info(REPO_ID, revision=sha1).siblings} == {
        ".gitattributes", hub.WEIGHTS_NAME, hub.CONFIG_NAME}

    digest = hub.file_sha256(tmp_path / "v1" / hub.WEIGHTS_NAME)
    state, config = hub.load_pretrained(f"hf-hub:{REPO_ID}", revision=sha1, sha256=digest, endpoint=server.url)
    assert_same(state, first)
    assert config == TinyCodec().config
    latest, _ = hub.load_pretrained(f"hf-hub:{REPO_ID}", endpoint=server.url)
    assert_same(latest, second)


def test_offline_loads_come_from_the_cache(tmp_path: Path, server: HubServer, monkeypatch: pytest.MonkeyPatch,
                                           isolated_hub: Path) -> None:
    expected = as_stored(export(tmp_path / "ckpt"))
    sha = publish(server, tmp_path / "ckpt")
    folder = hub.download(REPO_ID, revision=sha, endpoint=server.url)
    assert folder.parent.parent == isolated_hub / "models--lic-zoo--msp-lite-mse-q3" and folder.name == sha
    hub.download(REPO_ID, endpoint=server.url)  # records refs/main in the cache

    server.stop()  # nothing may be fetched from now on
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for revision in (sha, None):
        state, _ = hub.load_pretrained(f"hf-hub:{REPO_ID}", revision=revision, endpoint=server.url)
        assert_same(state, expected)


def test_a_corrupted_cached_file_is_caught_by_its_digest(tmp_path: Path, server: HubServer) -> None:
    export(tmp_path / "ckpt")
    digest = hub.file_sha256(tmp_path / "ckpt" / hub.WEIGHTS_NAME)
    sha = publish(server, tmp_path / "ckpt")
    cached = hub.download(REPO_ID, revision=sha, sha256=digest, endpoint=server.url) / hub.WEIGHTS_NAME
    data = bytearray(cached.read_bytes())
    data[-1] ^= 0xFF
    cached.resolve().write_bytes(bytes(data))

    with pytest.raises(DigestMismatchError) as caught:
        hub.load_pretrained(f"hf-hub:{REPO_ID}", revision=sha, sha256=digest, endpoint=server.url)
    message = str(caught.value)
    assert str(cached) in message and digest in message and hub.file_sha256(cached) in message


def test_offline_with_an_empty_cache(monkeypatch: pytest.MonkeyPatch, isolated_hub: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError) as caught:
        hub.load_pretrained(f"hf-hub:{REPO_ID}", revision="abc123")
    assert str(caught.value) == (
        f"offline mode is on (HF_HUB_OFFLINE) and {REPO_ID}@abc123 is not in the cache (HF_HUB_CACHE={isolated_hub})")


@pytest.mark.parametrize(("repo_id", "revision", "message"), [
    ("lic-zoo/missing", None, "lic-zoo/missing does not exist on http://127.0.0.1:"),
    (REPO_ID, "no-such-branch", f"{REPO_ID} on http://127.0.0.1:\\d+ has no revision 'no-such-branch'"),
    ("lic-zoo/empty", None, "lic-zoo/empty@main on http://127.0.0.1:\\d+ has no model.safetensors"),
])
def test_hub_failures_are_one_line(tmp_path: Path, server: HubServer, repo_id: str, revision: str | None,
                                   message: str) -> None:
    export(tmp_path / "ckpt")
    publish(server, tmp_path / "ckpt")
    server.create_repo("lic-zoo/empty")
    with pytest.raises(WeightsUnavailableError, match=message) as caught:
        hub.load_pretrained(f"hf-hub:{repo_id}", revision=revision, endpoint=server.url)
    assert "\n" not in str(caught.value)


def test_unreachable_hub_and_empty_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_download, "_DEFAULT_RETRY_ON_EXCEPTIONS", ())  # skip ~20 s of retries with backoff
    with pytest.raises(WeightsUnavailableError, match=f"cannot reach the Hugging Face Hub at {CLOSED_ENDPOINT} and"):
        hub.load_pretrained(f"hf-hub:{REPO_ID}")


def test_push_errors_are_typed(tmp_path: Path, server: HubServer) -> None:
    export(tmp_path / "ckpt")
    with pytest.raises(PublishError, match="HTTP 401 Invalid credentials"):
        hub.push_to_hub(tmp_path / "ckpt", REPO_ID, token="wrong", endpoint=server.url)


# -- model card and CLI -------------------------------------------------------------------------------------------


def test_model_card_shows_what_it_is_given() -> None:
    rows = rd_rows_from_results({"name": "msp-lite", "results": {"bpp": [0.41234, 0.8], "psnr-rgb": [31.2345, 34.5]}})
    card = render_model_card({"profile": {"name": "lite"}}, repo_id=REPO_ID, rd_table_rows=rows,
                             recipe="trainer:\n  max_steps: 10\n", plot_path="rd-curve.png")
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["library_name"] == "lic-zoo" and "image-compression" in front["tags"] and front["license"]
    assert "| bpp | PSNR-RGB (dB) |" in card and "| 0.4123 | 31.23 |" in card and "| 0.8 | 34.5 |" in card
    assert "max_steps: 10" in card and "![rate-distortion curve](rd-curve.png)" in card
    assert "λ = 0.0067" in card and 'lic_zoo.load_local("hf-hub:lic-zoo/msp-lite-mse-q3")' in card
    assert "lic_zoo.load(" not in card  # the fixed-rate q3 is kept for decoding only: no zoo entry loads it
    default = render_model_card({"profile": {"name": "lite"}}, repo_id="lic-zoo/msp-lite-mse")
    assert 'lic_zoo.load("msp-lite", quality=3, metric="mse")' in default and "qualities 0 to 9, continuous" in default
    bare = render_model_card({}, repo_id="someone/custom-codec")
    assert "No measured results were published" in bare and "lic_zoo.load(" not in bare and "![" not in bare


def test_cli_publish_and_download(tmp_path: Path, server: HubServer, capsys: pytest.CaptureFixture[str]) -> None:
    export(tmp_path / "ckpt")
    (tmp_path / "results.json").write_text(json.dumps(
        {"name": "msp-lite", "description": "eval-768x512, no LOF", "results": {"bpp": [0.5], "psnr-rgb": [30.25]}}))
    (tmp_path / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n fake")
    card_args = ["--results", str(tmp_path / "results.json"), "--rd-note", "eval-768x512, no LOF",
                 "--plot", str(tmp_path / "plot.png")]
    requests_before = len(server.requests)
    assert main(["publish", str(tmp_path / "ckpt"), "--repo", REPO_ID, "--card-only", *card_args]) == 0
    local_card = Path(capsys.readouterr().out.strip())
    assert local_card == tmp_path / "ckpt" / "README.md" and "| msp-lite | 0.5 | 30.25 |" in local_card.read_text()
    assert len(server.requests) == requests_before  # --card-only talks to no server
    assert main(["publish", str(tmp_path / "ckpt"), "--repo", REPO_ID, "--endpoint", server.url, "--token",
                 server.token, *card_args]) == 0
    sha = capsys.readouterr().out.strip()
    _, tree = server.tree(REPO_ID, sha)
    assert set(tree) == {".gitattributes", "README.md", "config.json", "model.safetensors", "rd-curve.png"}
    card = tree["README.md"].data.decode()
    assert "| msp-lite | 0.5 | 30.25 |" in card and "eval-768x512, no LOF" in card
    assert hub.file_sha256(tmp_path / "ckpt" / hub.WEIGHTS_NAME) in card

    assert main(["download", REPO_ID, "--revision", sha, "--endpoint", server.url]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert (folder / "model.safetensors").read_bytes() == (tmp_path / "ckpt" / "model.safetensors").read_bytes()


def test_card_carries_a_model_index_the_hub_reads() -> None:
    from huggingface_hub import ModelCard

    results = {"name": "msp-lite (mse)", "setting_name": "quality", "settings": [1, 2],
               "results": {"bpp": [0.23, 0.33], "psnr-rgb": [28.9, 30.1]}, "meta": {"image_dir": "/data/eval-768x512"}}
    card = ModelCard(render_model_card({}, repo_id=REPO_ID, rd_table_rows=rd_rows_from_results(results)))
    found = {(r.dataset_name, r.metric_type, r.metric_name, r.metric_value) for r in card.data.eval_results}
    assert found == {("eval-768x512", "bpp", "bpp (msp-lite (mse), eval-768x512, quality 1)", 0.23),
                     ("eval-768x512", "psnr", "PSNR-RGB (dB) (msp-lite (mse), eval-768x512, quality 1)", 28.9),
                     ("eval-768x512", "bpp", "bpp (msp-lite (mse), eval-768x512, quality 2)", 0.33),
                     ("eval-768x512", "psnr", "PSNR-RGB (dB) (msp-lite (mse), eval-768x512, quality 2)", 30.1)}
    assert card.data.model_name == REPO_ID


def test_a_failed_publish_leaves_the_folder_as_it_was(tmp_path: Path, server: HubServer,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    export(tmp_path / "ckpt")
    (tmp_path / "results.json").write_text(json.dumps({"name": "msp-lite", "results": {"bpp": [0.5], "psnr-rgb": [30.25]}}))
    assert main(["publish", str(tmp_path / "ckpt"), "--repo", REPO_ID, "--card-only", "--results",
                 str(tmp_path / "results.json")]) == 0
    card = (tmp_path / "ckpt" / "README.md").read_bytes()
    (tmp_path / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n fake")
    argv = ["publish", str(tmp_path / "ckpt"), "--repo", REPO_ID, "--endpoint", server.url, "--token", "wrong",
            "--plot", str(tmp_path / "plot.png")]
    assert main(argv) == 1 and "Invalid credentials" in capsys.readouterr().err
    assert (tmp_path / "ckpt" / "README.md").read_bytes() == card  # the RD table made earlier is still there
    assert not (tmp_path / "ckpt" / "rd-curve.png").exists()


@pytest.mark.parametrize("argv", [
    ["publish", "{tmp}", "--repo", REPO_ID, "--endpoint", "{url}"],
    ["download", "lic-zoo/missing", "--endpoint", "{url}"],
])
def test_cli_failures_are_one_line(tmp_path: Path, server: HubServer, capsys: pytest.CaptureFixture[str],
                                   argv: list[str]) -> None:
    assert main([arg.format(tmp=tmp_path, url=server.url) for arg in argv]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith(f"lic-zoo {argv[0]}: error:")


# -- torch.hub ----------------------------------------------------------------------------------------------------


def test_torch_hub_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = torch.hub.load(str(REPO_DIR), "msp_lite", source="local", pretrained=False, quality=3)
    assert isinstance(codec, MSPCodec) and codec.quality == 3 and not codec.training

    hub_only = registry.Checkpoint("msp-base-mse-q4", "msp-base", "mse", (4, 4), "1" * 64, "2" * 16, embedded=False,
                                   revision="0" * 40, measured=(registry.Measured(4, 0.4321, 31.5),))
    monkeypatch.setattr(registry, "CHECKPOINTS", (*registry.CHECKPOINTS, hub_only))
    spec = importlib.util.spec_from_file_location("hubconf_under_test", REPO_DIR / "hubconf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entry_points = [name for name in dir(module) if callable(getattr(module, name)) and not name.startswith("_")]
    assert entry_points == ["msp_base", "msp_extra", "msp_lite"]  # what torch.hub.list reports
    assert "msp-base-mse-q4 (mse, quality 4): q4 0.4321 bpp / 31.50 dB" in module.msp_base.__doc__
    assert "no pretrained weights are published yet" in module.msp_extra.__doc__
    for checkpoint in (c for c in registry.CHECKPOINTS if c.model == "msp-lite" and c.default):
        for point in checkpoint.measured:
            assert f"q{point.quality:g} {point.bpp:.4f} bpp / {point.psnr:.2f} dB" in module.msp_lite.__doc__


def test_load_torch_hub_and_the_cli_share_the_default_quality() -> None:
    from lic_zoo.cli import build_parser
    from lic_zoo.zoo import DEFAULT_QUALITY

    assert lic_zoo.load("msp-lite").quality == DEFAULT_QUALITY == 3
    from lic_zoo.cli.codec_commands import _codec

    assert _codec(build_parser().parse_args(["compress", "in.png", "out.lic"])).quality == DEFAULT_QUALITY
    codec = torch.hub.load(str(REPO_DIR), "msp_lite", source="local", pretrained=False, device="cpu")
    assert codec.quality == DEFAULT_QUALITY and next(codec.parameters()).device.type == "cpu"


def test_an_unknown_quality_names_the_qualities_with_weights() -> None:
    served = ", ".join(registry.served_qualities("msp-lite", "mse"))
    with pytest.raises(lic_zoo.UnknownModelError, match=rf"choose from 0\.\.9; pretrained weights serve {served}$"):
        lic_zoo.load("msp-lite", quality=10)


def test_a_model_without_weights_says_how_to_get_some() -> None:
    with pytest.raises(lic_zoo.WeightsUnavailableError, match=r"published yet: train one \(docs/training.md\) and "
                       r"load its exported folder \(--weights DIR, lic_zoo.load_local\(DIR\)\)$"):
        lic_zoo.load("msp-base", quality=3)


EMBEDDED = [c for c in registry.CHECKPOINTS if c.embedded]


def test_every_embedded_checkpoint_is_registered_once() -> None:
    assert sorted(p.name for p in (REPO_DIR / "lic_zoo" / "weights").iterdir()) == sorted(c.id for c in EMBEDDED)
    assert len({c.id for c in registry.CHECKPOINTS}) == len(registry.CHECKPOINTS)
    assert len({c.stream_digest for c in registry.CHECKPOINTS}) == len(registry.CHECKPOINTS)


def test_every_quality_of_the_lite_ladder_has_one_default_checkpoint_or_none() -> None:
    for quality in [0, 0.5, 1, 2.25, 3, 6, 8]:
        defaults = [c for c in registry.CHECKPOINTS if c.model == "msp-lite" and c.default and c.serves(quality)]
        assert len(defaults) <= 1, (quality, defaults)


def test_a_profile_and_a_checkpoint_are_one_declarative_line_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A throwaway profile, added as one ``Profile`` line, is a zoo model: listed, with training targets, built by
    ``lic_zoo.load`` and round-tripping. Its published weights are one ``Checkpoint`` line: ``lic_zoo.load`` serves
    them, digest checked, and their streams find them by digest."""
    tiny = lic_zoo.Profile(name="tiny", width=8, latent_channels=8, scales=1, groups=(8,), context_width=8,
                           context_blocks=1, hidden_channels=4, transform_blocks=0)
    monkeypatch.setitem(lic_zoo.PROFILES, "tiny", tiny)

    assert registry.MODELS["msp-tiny"] is tiny and "msp-tiny" in registry.MODELS
    assert lic_zoo.get_entry("msp-tiny", quality=2).profile is tiny
    assert {e.id for e in lic_zoo.list_entries() if e.model == "msp-tiny"} >= {"msp-tiny-mse-q0", "msp-tiny-mse-q8"}
    assert main(["models", "--all"]) == 0
    assert re.search(r"^msp-tiny-mse +tiny +mse +- +3 .* train ", capsys.readouterr().out, re.M)
    codec = lic_zoo.load("msp-tiny", quality=2, pretrained=False)
    image = torch.rand(3, 24, 40)
    result = codec.encode(image)
    assert codec.model_name == "msp-tiny" and torch.equal(codec.decompress(result.data), result.x_hat)

    folder = hub.save_pretrained(codec.state_dict(), codec.config, tmp_path / "msp-tiny-mse-q0-8")
    published = lic_zoo.load_local(folder)
    record = registry.Checkpoint("msp-tiny-mse-q0-8", "msp-tiny", "mse", (0, 8),
                                 hub.file_sha256(folder / hub.WEIGHTS_NAME), published.weights_digest().hex())
    monkeypatch.setattr(zoo, "EMBEDDED_WEIGHTS", tmp_path)  # where the package would ship its files
    monkeypatch.setattr(registry, "CHECKPOINTS", (*registry.CHECKPOINTS, record))
    loaded = lic_zoo.load("msp-tiny", quality=2.5)
    assert loaded.weights_digest() == published.weights_digest() and loaded.quality == 2.5
    data = loaded.compress(image)
    assert torch.equal(lic_zoo.decode(data), loaded.decompress(data))


@pytest.mark.parametrize("entry", EMBEDDED, ids=lambda c: c.id)
def test_embedded_weights_load_offline_and_their_streams_find_them(monkeypatch: pytest.MonkeyPatch, entry) -> None:
    """Embedded weights: no network, digest checked, the registered stream digest is theirs, real round trip
    (a non-default checkpoint is reached from its streams alone)."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    from lic_zoo.zoo import load_checkpoint

    codec = load_checkpoint(entry)
    assert hub.file_sha256(REPO_DIR / "lic_zoo" / "weights" / entry.id / "model.safetensors") == entry.sha256
    assert codec.weights_digest().hex() == entry.stream_digest
    quality = entry.qualities[0] + (0.5 if entry.variable_rate else 0)
    result = codec.encode(torch.rand(3, 40, 56), quality=quality)
    assert torch.equal(lic_zoo.decode(result.data), result.x_hat)
    if entry.default:
        hub_codec = torch.hub.load(str(REPO_DIR), entry.model.replace("-", "_"), source="local", quality=quality,
                                   metric=entry.metric)
        assert hub_codec.weights_digest() == codec.weights_digest() and hub_codec.quality == quality
