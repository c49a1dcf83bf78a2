"""vsrt import-weights: official-style containers in, vsrt safetensors out, bad files refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from vsrt_cli.errors import CheckpointError
from vsrt_cli.models.spynet import SPyNet
from vsrt_cli.models.vsrt import VSRTConfig, VSRTransformer
from vsrt_cli.weights.checkpoint import read_metadata
from vsrt_cli.weights.importer import infer_config
from vsrt_cli.weights.loading import load_model, load_spynet
from cli_runner import run_cli
from tiny_models import one_torch_thread

TINY = VSRTConfig(
    num_frames=3, channels=8, tile_size=16, patch_size=4, depth=1,
    extract_blocks=1, feedforward_blocks=1, reconstruct_blocks=1,
)


one_thread = pytest.fixture(autouse=True)(one_torch_thread)


class Opaque:
    """A custom class: a pickle holding it cannot be read with weights_only=True."""

    def __init__(self) -> None:
        self.weights = torch.ones(3)


@pytest.fixture
def tiny() -> VSRTransformer:
    torch.manual_seed(7)
    return VSRTransformer(TINY).eval()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("VSRT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VSRT_REGISTRY", raising=False)




def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda sd: {"params": {f"module.{k}": v for k, v in sd.items()}}, id="params+module"),
        pytest.param(lambda sd: {"params_ema": sd, "meta": {"iter": 3}}, id="params_ema"),
        pytest.param(lambda sd: {"state_dict": sd}, id="state_dict"),
        pytest.param(lambda sd: dict(sd), id="bare"),
    ],
)
def test_round_trip_gives_identical_outputs(tiny, tmp_path, capsys, wrap):
    source, dest = tmp_path / "tiny.pth", tmp_path / "tiny.safetensors"
    torch.save(wrap(tiny.state_dict()), source)
    code, _, err = run_cli(["import-weights", source, dest, "--frames", "3", "--patch-size", "4"], capsys)
    assert code == 0, err
    loaded = load_model(dest)
    assert loaded.config == TINY
    frames = torch.rand(1, 3, 3, 16, 16)
    with torch.no_grad():
        assert (loaded(frames) - tiny(frames)).abs().max().item() == 0
    assert read_metadata(dest)["source_file"] == "tiny.pth"


def test_ambiguous_frames_are_assumed_and_reported(tiny, tmp_path, capsys):
    source, dest = tmp_path / "tiny.pth", tmp_path / "tiny.safetensors"
    torch.save({"params": tiny.state_dict()}, source)
    code, out, err = run_cli(["import-weights", source, dest, "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    # One inv_freq entry allows T = 1..6; with depth 1 the official pairing says T = 1.
    assert report["config"]["num_frames"] == 1
    assert any("T=1 assumed" in note for note in report["assumptions"])
    assert any("patch size 8 assumed" in note for note in report["assumptions"])


def test_inference_reads_every_shape(tiny):
    config, _ = infer_config(tiny.state_dict(), {"num_frames": 3, "patch_size": 4})
    assert config == TINY
    wider = VSRTConfig(num_frames=7, channels=8, tile_size=16, patch_size=4, depth=2, extract_blocks=2,
                       feedforward_blocks=3, reconstruct_blocks=1, upsample_channels=4)
    config, notes = infer_config(VSRTransformer(wider).state_dict(), {"patch_size": 4})
    assert config == wider
    assert any("T=7 assumed" in note for note in notes)


def test_frames_outside_what_inv_freq_allows_are_refused(tiny, tmp_path, capsys):
    source = tmp_path / "tiny.pth"
    torch.save(tiny.state_dict(), source)
    code, _, err = run_cli(["import-weights", source, tmp_path / "out.safetensors", "--frames", "9"], capsys)
    assert code == 1
    assert "T=9 cannot be" in err
    assert leftovers(tmp_path) == ["tiny.pth"]


def test_missing_constant_buffers_are_filled_but_missing_weights_are_not(tiny, tmp_path, capsys):
    state = tiny.state_dict()
    del state["pos_embedding.penc.inv_freq"], state["spynet.spynet.mean"], state["spynet.spynet.std"]
    source, dest = tmp_path / "buffers.pth", tmp_path / "buffers.safetensors"
    torch.save({"params": state}, source)
    code, _, err = run_cli(["import-weights", source, dest, "--frames", "3", "--patch-size", "4"], capsys)
    assert code == 0, err
    assert "filled the constant buffer pos_embedding.penc.inv_freq" in err
    loaded = load_model(dest)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in tiny.state_dict().items())

    del state["reconstruction.0.conv2.weight"]
    state["upconv2.bias"] = torch.zeros(5)
    torch.save({"params": state}, source)
    partial = tmp_path / "partial.safetensors"
    code, _, err = run_cli(["import-weights", source, partial, "--frames", "3", "--patch-size", "4"], capsys)
    assert code == 1
    assert "1 missing (reconstruction.0.conv2.weight)" in err
    assert "wrong shape (upconv2.bias (5,) != (32,))" in err
    assert not partial.exists()


def test_basicsr_spynet_layout_inside_the_model_is_mapped(tiny, tmp_path, capsys):
    state = {}
    for key, value in tiny.state_dict().items():
        parts = key.split(".")
        if key.startswith("spynet.spynet.basic_module."):
            # BasicSR: basic_module.L.basic_module.{0,2,4,6,8}.weight, no ConvModule ".conv".
            key = ".".join(parts[:5] + [str(2 * int(parts[5]))] + parts[7:])
        state[key] = value
    source, dest = tmp_path / "basicsr.pth", tmp_path / "basicsr.safetensors"
    torch.save({"params": state}, source)
    code, _, err = run_cli(["import-weights", source, dest, "--frames", "3", "--patch-size", "4"], capsys)
    assert code == 0, err
    imported = load_model(dest).state_dict()
    assert all(torch.equal(imported[k], v) for k, v in tiny.state_dict().items())


def test_standalone_spynet_in_basicsr_layout_imports(tmp_path, capsys):
    torch.manual_seed(3)
    network = SPyNet()
    state = {}
    for key, value in network.state_dict().items():
        if key in ("mean", "std"):
            continue
        level, conv, name = key.split(".")[1], key.split(".")[3], key.split(".")[-1]
        state[f"basic_module.{level}.basic_module.{2 * int(conv)}.{name}"] = value
    source, dest = tmp_path / "spynet_sintel_final.pth", tmp_path / "flow.safetensors"
    torch.save({"params": state}, source)
    code, _, err = run_cli(["import-weights", source, dest], capsys)
    assert code == 0, err
    loaded = load_spynet(dest)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in network.state_dict().items())


def test_bad_files_are_refused_with_one_line_and_nothing_written(tiny, tmp_path, capsys):
    cases = {}
    good = tmp_path / "good.pth"
    torch.save({"params": tiny.state_dict()}, good)
    cases["truncated"] = (good.read_bytes()[: good.stat().st_size // 2], "truncated")
    cases["text"] = (b"model weights: see the README\n", "not a PyTorch checkpoint")
    other = tmp_path / "other.pth"
    torch.save(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 3, 3)).state_dict(), other)
    cases["other-architecture"] = (other.read_bytes(), "not a VSR-Transformer or SPyNet checkpoint")
    custom = tmp_path / "custom.pth"
    torch.save({"params": Opaque()}, custom)
    cases["custom-class"] = (custom.read_bytes(), "pickled Python objects")
    empty_dict = tmp_path / "empty.pth"
    torch.save({"params": {"step": 3}}, empty_dict)
    cases["no-tensors"] = (empty_dict.read_bytes(), "contains no tensors")

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for name, (payload, message) in cases.items():
        source = tmp_path / f"{name}.bin"
        source.write_bytes(payload)
        code, _, err = run_cli(["import-weights", source, out_dir / f"{name}.safetensors"], capsys)
        assert code == 1, name
        assert message in err, (name, err)
        assert len(err.strip().splitlines()) == 1, (name, err)
    assert leftovers(out_dir) == []


def test_existing_destination_needs_force(tiny, tmp_path, capsys):
    source, dest = tmp_path / "tiny.pth", tmp_path / "tiny.safetensors"
    torch.save(tiny.state_dict(), source)
    dest.write_bytes(b"keep me")
    args = ["import-weights", source, dest, "--frames", "3", "--patch-size", "4"]
    code, _, err = run_cli(args, capsys)
    assert code == 1 and "already exists (use -y/--overwrite" in err  # as vsrt upscale says it
    assert dest.read_bytes() == b"keep me"
    assert run_cli(args + ["-y"], capsys)[0] == 0
    assert load_model(dest).config == TINY
    assert run_cli(args + ["--force"], capsys)[0] == 0  # the older name still works


def test_without_dest_an_unregistered_architecture_must_be_given_one(tiny, tmp_path, capsys):
    source = tmp_path / "tiny.pth"
    torch.save(tiny.state_dict(), source)
    code, _, err = run_cli(["import-weights", source], capsys)
    assert code == 2
    assert "DEST.safetensors" in err
    assert leftovers(tmp_path / "home") == []


def test_unknown_param_key_is_a_usage_error(tiny, tmp_path, capsys):
    source = tmp_path / "tiny.pth"
    torch.save({"params": tiny.state_dict()}, source)
    code, _, err = run_cli(["import-weights", source, tmp_path / "x.safetensors", "--param-key", "ema"], capsys)
    assert code == 2
    assert "no 'ema' entry" in err


def test_missing_source_is_reported(tmp_path, capsys):
    code, _, err = run_cli(["import-weights", tmp_path / "nope.pth", tmp_path / "x.safetensors"], capsys)
    assert code == 2
    assert "no such file" in err


def test_checkpoint_error_from_the_api(tmp_path):
    from vsrt_cli.weights.importer import import_any

    source = tmp_path / "notes.txt"
    source.write_text("hello")
    with pytest.raises(CheckpointError):
        import_any(source, tmp_path / "x.safetensors")


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_the_destination_is_never_the_source(tiny, tmp_path, capsys, link):
    """As `vsrt upscale` refuses: with -y the only copy of the original would be replaced."""
    from vsrt_cli.weights.checkpoint import save_checkpoint

    source = save_checkpoint(tiny, tmp_path / "model.safetensors")
    original = source.read_bytes()
    dest = {"same": source, "symlink": tmp_path / "link.safetensors", "hardlink": tmp_path / "hard.safetensors"}[link]
    if link == "symlink":
        dest.symlink_to(source.name)
    elif link == "hardlink":
        dest.hardlink_to(source)
    code, _, err = run_cli(["import-weights", source, dest, "-y"], capsys)
    assert code == 1
    assert err == f"vsrt: error: {dest}: refusing to write over the input\n"
    assert source.read_bytes() == original


def test_a_missing_first_convolution_is_reported_as_a_missing_key(tiny, tmp_path, capsys):
    """The other 106 names are the network's own: not "another network"."""
    state = tiny.state_dict()
    del state["conv_first.weight"]
    source, dest = tmp_path / "missing.pth", tmp_path / "missing.safetensors"
    torch.save({"params": state}, source)
    code, _, err = run_cli(["import-weights", source, dest, "--frames", "3", "--patch-size", "4"], capsys)
    assert code == 1
    assert "does not match the T=3 C=8 tile=16" in err and "1 missing (conv_first.weight)" in err
    assert "not a VSR-Transformer" not in err
    assert len(err.strip().splitlines()) == 1
    assert not dest.exists()


def test_a_plain_pickle_is_one_line_without_torchs_advice(tmp_path, capsys):
    import pickle
    import warnings

    source = tmp_path / "plain.pkl"
    source.write_bytes(pickle.dumps({"x": 1}, protocol=4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run_cli(["import-weights", source, tmp_path / "x.safetensors"], capsys)
    assert code == 1
    assert [str(w.message) for w in caught] == []
    assert "not a PyTorch checkpoint that can be read without running code" in err
    assert "weights_only` set to `False" not in err and "will likely succeed" not in err
    assert len(err.strip().splitlines()) == 1
