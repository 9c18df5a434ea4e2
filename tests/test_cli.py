"""The `lic-zoo` codec commands: real files in, real files out, one-line errors, no partial outputs."""
from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from lic_zoo.cli import main
from lic_zoo.zoo.hub import save_pretrained

from codec_helpers import synthetic_image


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    from lic_zoo import MSPCodec

    codec = MSPCodec("lite", quality=2)
    return save_pretrained(codec.state_dict(), codec.config, tmp_path_factory.mktemp("w") / "msp-lite-q2")


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory):
    torch.manual_seed(1)
    from lic_zoo import MSPCodec

    codec = MSPCodec("lite", quality=2)
    return save_pretrained(codec.state_dict(), codec.config, tmp_path_factory.mktemp("w2") / "other")


def rgb_array(h: int = 37, w: int = 53) -> np.ndarray:
    return (synthetic_image(h, w).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def write_inputs(folder) -> dict[str, tuple]:
    """One file per supported input kind: name -> (path, expected output mode)."""
    rgb = rgb_array()
    files = {}
    for ext in ("png", "jpg", "webp", "tiff"):
        Image.fromarray(rgb).save(folder / f"rgb.{ext}")
        files[ext] = (folder / f"rgb.{ext}", "RGB")
    Image.fromarray(rgb).convert("L").save(folder / "gray.png")
    files["gray"] = (folder / "gray.png", "L")
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 128, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    files["rgba"] = (folder / "rgba.png", "RGB")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(folder / "gray16.png")
    files["gray16"] = (folder / "gray16.png", "L")
    return files


def rgb_png(width: int, height: int, bit_depth: int, raw: bytes) -> bytes:
    """A PNG file written by hand (Pillow cannot write 16-bit RGB, nor a header that lies): RGB, ``raw`` rows."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def run(*args) -> int:
    return main([str(a) for a in args])


@pytest.mark.parametrize("kind", ["png", "jpg", "webp", "tiff", "gray", "rgba", "gray16"])
def test_compress_decompress_info(tmp_path, weights, kind, capsys):
    path, mode = write_inputs(tmp_path)[kind]
    assert run("compress", path, tmp_path / "out.lic", "--weights", weights) == 0
    assert run("decompress", tmp_path / "out.lic", tmp_path / "out.png", "--weights", weights) == 0
    with Image.open(tmp_path / "out.png") as out:
        assert (out.format, out.mode, out.size) == ("PNG", mode, (53, 37))
    assert run("info", tmp_path / "out.lic") == 0
    info = capsys.readouterr().out
    assert "msp-lite (mse, quality 2)" in info and "53x37" in info and "bpp" in info


def test_compress_with_latent_overfitting(tmp_path, weights):
    path, _ = write_inputs(tmp_path)["png"]
    assert run("compress", path, tmp_path / "lof.lic", "--weights", weights, "--lof-steps", "3") == 0
    assert run("decompress", tmp_path / "lof.lic", tmp_path / "lof.png", "--weights", weights) == 0


def test_sixteen_bit_keeps_precision(tmp_path):
    from lic_zoo.image_io import load_image

    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    image, layout = load_image(tmp_path / "ramp16.png")
    assert layout == "L" and len(torch.unique(image[0])) > 256  # not truncated to 8 bits on input


def test_models_lists_every_checkpoint_and_with_all_the_untrained_models(capsys):
    from lic_zoo.zoo.registry import CHECKPOINTS

    assert run("models") == 0
    out = capsys.readouterr().out
    assert all(c.id in out for c in CHECKPOINTS) and "msp-extra" not in out
    assert run("models", "--all") == 0
    assert "msp-extra-ms-ssim " in capsys.readouterr().out


def one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.count("\n") == 0 and err.startswith("lic-zoo") and "Traceback" not in err, err
    return err


def test_missing_input(tmp_path, weights, capsys):
    code = run("compress", tmp_path / "nope.png", tmp_path / "out.lic", "--weights", weights)
    assert "nope.png" in one_line_error(capsys, code)
    assert not (tmp_path / "out.lic").exists()


def test_not_an_image(tmp_path, weights, capsys):
    (tmp_path / "fake.png").write_text("hello")
    code = run("compress", tmp_path / "fake.png", tmp_path / "out.lic", "--weights", weights)
    assert "not a readable image" in one_line_error(capsys, code)
    assert not (tmp_path / "out.lic").exists()


@pytest.fixture
def stream(tmp_path, weights):
    Image.fromarray(rgb_array()).save(tmp_path / "in.png")
    assert run("compress", tmp_path / "in.png", tmp_path / "in.lic", "--weights", weights) == 0
    return (tmp_path / "in.lic").read_bytes()


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_broken_streams(tmp_path, weights, stream, damage, capsys):
    data = {"truncate": stream[: len(stream) // 2],
            "flip": stream[:20] + bytes([stream[20] ^ 1]) + stream[21:],
            "garbage": b"hello world"}[damage]
    (tmp_path / "bad.lic").write_bytes(data)
    (tmp_path / "keep.png").write_bytes(b"previous content")
    code = run("decompress", tmp_path / "bad.lic", tmp_path / "keep.png", "--weights", weights)
    err = one_line_error(capsys, code)
    assert "corrupt" in err or "truncated" in err or "not a lic_zoo stream" in err
    assert (tmp_path / "keep.png").read_bytes() == b"previous content"  # nothing overwritten
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_stream_from_other_weights(tmp_path, other_weights, stream, capsys):
    (tmp_path / "s.lic").write_bytes(stream)
    code = run("decompress", tmp_path / "s.lic", tmp_path / "out.png", "--weights", other_weights)
    assert "weights" in one_line_error(capsys, code)
    assert not (tmp_path / "out.png").exists()


def test_unknown_model_and_quality(tmp_path, capsys):
    Image.fromarray(rgb_array()).save(tmp_path / "in.png")
    assert "unknown model" in one_line_error(capsys, run("compress", tmp_path / "in.png", tmp_path / "o.lic",
                                                          "--model", "msp-huge"))
    assert "unknown quality" in one_line_error(capsys, run("compress", tmp_path / "in.png", tmp_path / "o.lic",
                                                            "--quality", "99"))


def test_console_script_exit_code(tmp_path):
    out = subprocess.run([sys.executable, "-m", "lic_zoo.cli", "decompress", str(tmp_path / "x.lic"),
                          str(tmp_path / "y.png")], capture_output=True, text=True)
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_messages_name_the_problem_in_the_callers_terms(tmp_path, weights, stream, capsys):
    (tmp_path / "adir").mkdir()
    (tmp_path / "s.lic").write_bytes(stream)
    Image.fromarray(rgb_array()).save(tmp_path / "in.png")
    err = one_line_error(capsys, run("compress", tmp_path / "adir", tmp_path / "o.lic", "--weights", weights))
    assert err.endswith(f"input is a folder, not a file: {tmp_path / 'adir'}")
    err = one_line_error(capsys, run("compress", tmp_path / "in.png", tmp_path / "missing/dir/o.lic", "--weights", weights))
    assert err.endswith(f"output folder does not exist: {tmp_path / 'missing/dir'}") and ".tmp" not in err
    # A missing input reads the same for every command.
    for command in ("compress", "decompress", "info"):
        outputs = [] if command == "info" else [tmp_path / "out.png", "--weights", weights]
        code = run(command, tmp_path / "nope", *outputs)
        assert one_line_error(capsys, code) == f"lic-zoo {command}: error: no such file: {tmp_path / 'nope'}"


def test_foreign_weights_hint_at_the_weights_option(tmp_path, stream, capsys, monkeypatch):
    """A stream of one's own exported weights, decoded with the zoo's: the message says to pass --weights."""
    import lic_zoo.cli.codec_commands as commands
    from lic_zoo import MSPCodec

    torch.manual_seed(5)
    zoo_codec = MSPCodec("lite", quality=2).eval()  # stands in for the zoo's weights, which did not make it
    monkeypatch.setattr(commands, "codec_for_stream", lambda data, limits: zoo_codec)
    (tmp_path / "s.lic").write_bytes(stream)
    err = one_line_error(capsys, run("decompress", tmp_path / "s.lic", tmp_path / "out.png"))
    assert "weights" in err and err.endswith("decode it with --weights DIR")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("link", ["same", "hardlink", "symlink"])
@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_output_that_is_the_input_is_refused(tmp_path, weights, stream, command, link, capsys):
    source = tmp_path / ("in.png" if command == "compress" else "in.lic")
    before = source.read_bytes()
    output = {"same": source, "hardlink": tmp_path / "hard", "symlink": tmp_path / "soft"}[link]
    if link == "hardlink":
        output.hardlink_to(source)
    elif link == "symlink":
        output.symlink_to(source)
    err = one_line_error(capsys, run(command, source, output, "--weights", weights))
    assert "is the input file" in err
    assert source.read_bytes() == before


def test_decompress_follows_the_output_suffix(tmp_path, weights, stream, capsys):
    (tmp_path / "s.lic").write_bytes(stream)
    for suffix, fmt in [(".tiff", "TIFF"), (".webp", "WEBP"), (".bmp", "BMP"), (".png", "PNG")]:
        assert run("decompress", tmp_path / "s.lic", tmp_path / f"out{suffix}", "--weights", weights) == 0
        with Image.open(tmp_path / f"out{suffix}") as img:
            assert img.format == fmt
    reference = np.asarray(Image.open(tmp_path / "out.png"))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.webp")), reference)  # lossless
    err = one_line_error(capsys, run("decompress", tmp_path / "s.lic", tmp_path / "out.jpg", "--weights", weights))
    assert "cannot write .jpg" in err and not (tmp_path / "out.jpg").exists()


def test_negative_lof_steps_are_refused(tmp_path, weights, capsys):
    Image.fromarray(rgb_array()).save(tmp_path / "in.png")
    with pytest.raises(SystemExit) as exit_info:
        run("compress", tmp_path / "in.png", tmp_path / "o.lic", "--weights", weights, "--lof-steps", "-1")
    assert exit_info.value.code == 2 and "must be 0 or more" in capsys.readouterr().err
    assert not (tmp_path / "o.lic").exists()


def test_version(capsys):
    import lic_zoo

    with pytest.raises(SystemExit) as exit_info:
        run("--version")
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"lic-zoo {lic_zoo.__version__}"


def test_animated_gif_encodes_its_first_frame_with_a_warning(tmp_path, weights, capsys):
    frames = [Image.fromarray(rgb_array()), Image.fromarray(255 - rgb_array())]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    assert run("compress", tmp_path / "anim.gif", tmp_path / "a.lic", "--weights", weights) == 0
    err = capsys.readouterr().err.strip()
    assert err == f"lic-zoo compress: warning: {tmp_path / 'anim.gif'}: animated image of 2 frames, only the first " \
                  "frame is used"


def test_a_claimed_decompression_bomb_is_one_line_with_our_limit(tmp_path, weights, capsys):
    """A tiny PNG whose header claims 90 MP: no Pillow warning, and the limit cited is ours."""
    (tmp_path / "bomb.png").write_bytes(rgb_png(10000, 9000, 8, b"\0" * 100))
    code = run("compress", tmp_path / "bomb.png", tmp_path / "b.lic", "--weights", weights, "--max-pixels", "50000000")
    assert "exceeds the limit of 50000000" in one_line_error(capsys, code)
    code = run("compress", tmp_path / "bomb.png", tmp_path / "b.lic", "--weights", weights)
    assert "not a readable image" in one_line_error(capsys, code)  # within our limit: the data is short
    (tmp_path / "bomb.png").write_bytes(rgb_png(15000, 15000, 8, b"\0" * 100))  # over Pillow's hard cap too
    code = run("compress", tmp_path / "bomb.png", tmp_path / "b.lic", "--weights", weights)
    assert "exceeds the limit of 100000000" in one_line_error(capsys, code)


def test_float_tensors_outside_zero_one_are_refused():
    from lic_zoo import MSPCodec, UnsupportedInputError

    codec = MSPCodec("lite", quality=2)
    with pytest.raises(UnsupportedInputError, match="must lie in \\[0, 1\\], got 0 to 255"):
        codec.compress(torch.linspace(0, 255, 3 * 16 * 16).reshape(3, 16, 16), lof_steps=0)
    nearly = torch.rand(3, 16, 16) * (1 + 1e-4) - 5e-5  # rounding outside [0, 1] is accepted
    assert codec.compress(nearly, lof_steps=0)


def test_sixteen_bit_rgb_is_read_as_eight_bit(tmp_path):
    """As the README says: Pillow keeps the high byte of 16-bit RGB samples (16-bit grey keeps all its levels)."""
    from lic_zoo.image_io import load_image

    height, width = 4, 64
    samples = (np.arange(height * width * 3, dtype=np.uint32).reshape(height, width, 3) * 97 % 65536).astype(">u2")
    raw = b"".join(b"\0" + row.tobytes() for row in samples)  # filter type 0 before each row
    (tmp_path / "rgb16.png").write_bytes(rgb_png(width, height, 16, raw))
    image, layout = load_image(tmp_path / "rgb16.png")
    assert layout == "RGB"
    expected = (samples >> 8).astype(np.float32).transpose(2, 0, 1) / 255
    assert torch.equal(image, torch.from_numpy(expected))
