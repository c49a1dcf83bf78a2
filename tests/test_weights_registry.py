"""The model registry, load_model / resolve_weights, and `vsrt models`."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest
import torch

import vsrt_cli
from vsrt_cli.errors import CheckpointError, UsageError, WeightsMissingError
from vsrt_cli.models.spynet import SPyNet
from vsrt_cli.models.vsrt import PRESETS, VSRTConfig, VSRTransformer
from vsrt_cli.weights.checkpoint import save_checkpoint, save_spynet
from vsrt_cli.weights.registry import (
    BundledSource,
    HubSource,
    ImportSource,
    RegistryError,
    bundled_manifest,
    load_registry,
    user_weights_dir,
)
from vsrt_cli.weights.loading import load_model, resolve_weights
from cli_runner import run_cli
from tiny_models import one_torch_thread

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = VSRTConfig(
    num_frames=3, channels=8, tile_size=16, patch_size=4, depth=1,
    extract_blocks=1, feedforward_blocks=1, reconstruct_blocks=1,
)
SMALL = VSRTConfig(
    num_frames=5, channels=24, tile_size=64, patch_size=8, heads=1, depth=2, extract_blocks=2,
    feedforward_blocks=2, reconstruct_blocks=2, upsample_channels=16, self_flow="zero",
)


one_thread = pytest.fixture(autouse=True)(one_torch_thread)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("VSRT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VSRT_REGISTRY", raising=False)




def tiny_bundle(folder: Path, sha256: str | None = "auto") -> tuple[VSRTransformer, Path]:
    """A manifest with one bundled tiny model beside it (the default) and one import model."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(5)
    network = VSRTransformer(TINY).eval()
    weights = save_checkpoint(network, folder / "tiny.safetensors")
    digest = hashlib.sha256(weights.read_bytes()).hexdigest() if sha256 == "auto" else sha256
    manifest = {
        "default": "tiny",
        "models": [
            {"name": "tiny", "kind": "vsr-transformer", "config": json.loads(TINY.to_json()),
             "file": "tiny.safetensors", "sha256": digest, "source": {"type": "bundled"}},
            {"name": "by-hand", "kind": "vsr-transformer", "preset": "official-reds",
             "source": {"type": "import", "url": "https://example.org/folder", "filename": "by_hand.pth",
                        "command": "vsrt import-weights by_hand.pth"}},
        ],
    }
    path = folder / "models.json"
    path.write_text(json.dumps(manifest))
    return network, path


def test_shipped_registry_lists_the_three_models():
    registry = load_registry()
    assert registry.manifest == REPO_ROOT / "weights" / "models.json"
    assert registry.default == "vsrt-small"
    small = registry.get("vsrt-small")
    assert isinstance(small.source, BundledSource) and small.config == SMALL
    assert small.params == sum(p.numel() for p in VSRTransformer(SMALL).parameters())
    official = registry.get("vsrt-official-reds")
    assert isinstance(official.source, ImportSource) and official.config == PRESETS["official-reds"]
    assert official.source.command == "vsrt import-weights vsrTransformer_reds_x4_final.pth"
    assert official.params == 32_564_335
    flow = registry.get("spynet-sintel")
    assert isinstance(flow.source, HubSource) and flow.kind == "spynet"
    assert (flow.source.repo_id, flow.source.repo_type, flow.source.filename) == ("codeslake/RefVSR", "space", "SPyNet.pytorch")
    assert re.fullmatch(r"[0-9a-f]{40}", flow.source.revision)
    assert flow.source.sha256.startswith("c6c1bd09") and flow.source.size == 5_770_988
    assert flow.params == sum(p.numel() for p in SPyNet().parameters())


def test_default_model_loads_or_says_exactly_what_is_missing():
    """Until the training run ships vsrt-small.safetensors, loading must fail cleanly."""
    if (REPO_ROOT / "weights" / "vsrt-small.safetensors").exists():
        assert vsrt_cli.load_model().config == SMALL
    else:
        with pytest.raises(WeightsMissingError, match="vsrt-small.safetensors"):
            vsrt_cli.load_model()


def test_checkout_finds_the_manifest_without_installing():
    assert bundled_manifest() == REPO_ROOT / "weights" / "models.json"


def test_user_weights_dir_follows_vsrt_home(tmp_path, monkeypatch):
    assert user_weights_dir() == tmp_path / "home"
    monkeypatch.delenv("VSRT_HOME")
    assert user_weights_dir() == Path.home() / ".cache" / "vsrt" / "weights"


def test_bundled_default_loads_in_eval_mode(tmp_path, monkeypatch):
    network, manifest = tiny_bundle(tmp_path / "bundle")
    monkeypatch.setenv("VSRT_REGISTRY", str(manifest))
    model = load_model()
    assert not model.training and model.config == TINY
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(model.state_dict()[k], v) for k, v in network.state_dict().items())
    assert resolve_weights("tiny") == tmp_path / "bundle" / "tiny.safetensors"
    # Results name the model it came from; "auto" is a device word here as on the CLI.
    assert model.weights_name == "tiny" and load_model("tiny", device="auto").weights_name == "tiny"
    with pytest.raises(UsageError, match="expected auto, cpu, cuda or cuda:N"):
        load_model(device="gpu")


def test_damaged_bundled_file_fails_its_hash(tmp_path, monkeypatch):
    _, manifest = tiny_bundle(tmp_path / "bundle", sha256="0" * 64)
    monkeypatch.setenv("VSRT_REGISTRY", str(manifest))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_model("tiny")


def test_missing_models_name_the_command_that_gets_them(tmp_path, monkeypatch):
    _, manifest = tiny_bundle(tmp_path / "bundle")
    (tmp_path / "bundle" / "tiny.safetensors").unlink()
    monkeypatch.setenv("VSRT_REGISTRY", str(manifest))
    with pytest.raises(WeightsMissingError, match="tiny.safetensors") as missing:
        load_model()
    assert missing.value.exit_code == 4
    with pytest.raises(WeightsMissingError) as missing:
        load_model("by-hand")
    message = str(missing.value)
    assert "https://example.org/folder" in message and "vsrt import-weights by_hand.pth" in message


def test_imported_model_resolves_into_the_user_weights_dir(tmp_path, monkeypatch):
    _, manifest = tiny_bundle(tmp_path / "bundle")
    monkeypatch.setenv("VSRT_REGISTRY", str(manifest))
    target = tmp_path / "home" / "by-hand.safetensors"
    target.parent.mkdir()
    save_checkpoint(VSRTransformer(TINY), target)
    assert resolve_weights("by-hand") == target


def test_a_cut_short_file_is_damaged_not_installed(tmp_path, monkeypatch, capsys):
    # A copy by hand, or a disk that filled, leaves a file no run can load: `vsrt models`
    # says so, and loading says how to put it right, instead of listing it as installed.
    _, manifest = tiny_bundle(tmp_path / "bundle")
    monkeypatch.setenv("VSRT_REGISTRY", str(manifest))
    whole = save_checkpoint(VSRTransformer(TINY), tmp_path / "whole.safetensors").read_bytes()
    imported = tmp_path / "home" / "by-hand.safetensors"
    imported.parent.mkdir()
    imported.write_bytes(whole[: len(whole) // 2])
    bundled = tmp_path / "bundle" / "tiny.safetensors"
    bundled.write_bytes(bundled.read_bytes()[:-100])

    code, out, _ = run_cli(["models", "--json"], capsys)
    rows = {row["name"]: row for row in json.loads(out)["models"]}
    assert code == 0
    assert not rows["by-hand"]["installed"] and rows["by-hand"]["damaged"]
    assert "import it again: vsrt import-weights by_hand.pth -y" in rows["by-hand"]["get"]
    assert not rows["tiny"]["installed"] and rows["tiny"]["damaged"] and "reinstall vsrt" in rows["tiny"]["get"]
    code, out, _ = run_cli(["models"], capsys)
    assert "by-hand: damaged; " in out and "damaged" in out.split("by-hand", 1)[1].splitlines()[0]
    with pytest.raises(CheckpointError, match=r"import it again: vsrt import-weights by_hand.pth -y"):
        load_model("by-hand")
    code, _, err = run_cli(["download-weights", "by-hand"], capsys)
    assert code == 4 and "-y" in err

    imported.unlink()
    imported.mkdir()  # something else in the way
    code, out, _ = run_cli(["models", "--json"], capsys)
    row = {row["name"]: row for row in json.loads(out)["models"]}["by-hand"]
    assert row["damaged"] and "is a folder, not a weights file (move it out of the way)" in row["get"]
    with pytest.raises(CheckpointError, match="is a folder"):
        load_model("by-hand")
    imported.rmdir()

    imported.write_bytes(whole)
    code, out, _ = run_cli(["models", "--json"], capsys)
    row = {row["name"]: row for row in json.loads(out)["models"]}["by-hand"]
    assert row["installed"] and not row["damaged"] and row["get"] is None


def test_paths_and_unknown_names(tmp_path):
    torch.manual_seed(0)
    saved = save_checkpoint(VSRTransformer(TINY), tmp_path / "mine.safetensors")
    assert load_model(str(saved)).config == TINY
    pickle_file = tmp_path / "mine.pth"
    pickle_file.write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(CheckpointError, match="vsrt import-weights"):
        resolve_weights(pickle_file)
    with pytest.raises(UsageError, match="no such weights file"):
        resolve_weights(tmp_path / "absent.safetensors")
    with pytest.raises(UsageError, match="unknown model 'nonesuch'"):
        resolve_weights("nonesuch")


def test_files_that_are_not_upscalers_are_refused(tmp_path):
    plain = tmp_path / "plain.safetensors"
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(2)}, str(plain))
    with pytest.raises(CheckpointError, match="not a vsrt checkpoint"):
        load_model(plain)
    flow = save_spynet(SPyNet(), tmp_path / "flow.safetensors")
    with pytest.raises(UsageError, match="not an upscaler"):
        load_model(flow)


def test_broken_manifest_is_one_clear_error(tmp_path, monkeypatch):
    manifest = tmp_path / "models.json"
    manifest.write_text('{"models": [{"name": "x", "kind": "gan", "source": {"type": "bundled"}}]}')
    monkeypatch.setenv("VSRT_REGISTRY", str(manifest))
    with pytest.raises(RegistryError, match="kind 'gan'"):
        load_registry()


def test_models_command_json_and_table(tmp_path, monkeypatch, capsys):
    code, out, _ = run_cli(["models", "--json"], capsys)
    assert code == 0
    listing = json.loads(out)
    rows = {row["name"]: row for row in listing["models"]}
    assert listing["default"] == "vsrt-small" and rows["vsrt-small"]["default"]
    official = rows["vsrt-official-reds"]
    assert not official["installed"]
    assert "vsrt import-weights vsrTransformer_reds_x4_final.pth" in official["get"]
    assert "drive.google.com" in official["get"]
    assert official["quality"]["REDS4"]["psnr_rgb"] == 31.19
    assert official["params"] == 32_564_335 and official["macs_per_lr_pixel"] > 0
    assert rows["spynet-sintel"]["get"] == "vsrt download-weights spynet-sintel"
    assert rows["spynet-sintel"]["size"] == 5_770_988

    code, out, err = run_cli(["models"], capsys)
    assert code == 0 and err == ""
    for name in rows:
        assert name in out
    assert "vsrt download-weights spynet-sintel" in out

    _, manifest = tiny_bundle(tmp_path / "bundle")
    monkeypatch.setenv("VSRT_REGISTRY", str(manifest))
    code, out, _ = run_cli(["models", "--json"], capsys)
    tiny_row = json.loads(out)["models"][0]
    assert tiny_row["installed"] and tiny_row["get"] is None
    assert tiny_row["size"] == (tmp_path / "bundle" / "tiny.safetensors").stat().st_size


def test_download_of_bundled_or_unimported_models(tmp_path, monkeypatch, capsys):
    _, manifest = tiny_bundle(tmp_path / "bundle")
    monkeypatch.setenv("VSRT_REGISTRY", str(manifest))
    code, _, err = run_cli(["download-weights", "tiny"], capsys)
    assert code == 0 and "bundled with vsrt, nothing to download" in err
    code, _, err = run_cli(["download-weights", "by-hand"], capsys)
    assert code == 4 and "vsrt import-weights by_hand.pth" in err
    code, _, err = run_cli(["download-weights"], capsys)
    assert code == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file without read permission")
def test_a_weights_file_that_cannot_be_read_is_not_called_missing(tmp_path):
    locked = save_checkpoint(VSRTransformer(TINY), tmp_path / "locked.safetensors")
    locked.chmod(0)
    with pytest.raises(CheckpointError, match=r"locked.safetensors: cannot read it \(Permission denied\)"):
        load_model(locked)
