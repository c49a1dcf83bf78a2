"""download-weights against a local fake Hub, through the real huggingface_hub client.

In-process tests point huggingface_hub's import-time constants (endpoint, cache, offline
flag) at temporary values; the subprocess tests set the real environment variables, which
is how users configure it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import LocalEntryNotFoundError

from cli_runner import run_cli
from hub_server import FakeHub
from vsrt_cli.errors import WeightsMissingError
from vsrt_cli.models.spynet import SPyNet
from vsrt_cli.models.vsrt import VSRTConfig, VSRTransformer
from vsrt_cli.weights.checkpoint import save_checkpoint
from vsrt_cli.weights.loading import load_model, load_spynet, resolve_weights
from tiny_models import one_torch_thread

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = VSRTConfig(
    num_frames=3, channels=8, tile_size=16, patch_size=4, depth=1,
    extract_blocks=1, feedforward_blocks=1, reconstruct_blocks=1,
)
SPACE = "someone/flow-space"
MODELS = "someone/tiny-vsrt"


one_thread = pytest.fixture(autouse=True)(one_torch_thread)


def spynet_payload(seed: int = 0) -> tuple[SPyNet, bytes]:
    """A SPyNet saved as mmediting does: {'state_dict': ..., 'meta': ...}, no mean/std."""
    torch.manual_seed(seed)
    network = SPyNet()
    for parameter in network.parameters():
        torch.nn.init.normal_(parameter, std=0.01)
    state = {key: value for key, value in network.state_dict().items() if key not in ("mean", "std")}
    buffer = io.BytesIO()
    torch.save({"state_dict": state, "meta": {"mmedit_version": "0.7.0"}}, buffer)
    return network, buffer.getvalue()


def tiny_vsrt_payload(tmp_path: Path) -> tuple[VSRTransformer, bytes]:
    torch.manual_seed(1)
    network = VSRTransformer(TINY).eval()
    path = save_checkpoint(network, tmp_path / "tiny-upload.safetensors")
    return network, path.read_bytes()


def write_manifest(path: Path, flow_bytes: bytes, flow_commit: str, vsrt_bytes: bytes, vsrt_commit: str) -> Path:
    manifest = {
        "default": "tiny-hub",
        "models": [
            {
                "name": "tiny-spynet",
                "kind": "spynet",
                "source": {
                    "type": "hub",
                    "repo_id": SPACE,
                    "repo_type": "space",
                    "filename": "SPyNet.pytorch",
                    "revision": flow_commit,
                    "sha256": hashlib.sha256(flow_bytes).hexdigest(),
                    "size": len(flow_bytes),
                },
            },
            {
                "name": "tiny-hub",
                "kind": "vsr-transformer",
                "config": json.loads(TINY.to_json()),
                "source": {
                    "type": "hub",
                    "repo_id": MODELS,
                    "filename": "tiny.safetensors",
                    "revision": vsrt_commit,
                    "sha256": hashlib.sha256(vsrt_bytes).hexdigest(),
                    "size": len(vsrt_bytes),
                },
            },
        ],
    }
    path.write_text(json.dumps(manifest))
    return path


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """A running fake Hub holding a SPyNet .pth (in a Space) and a tiny vsrt model, and
    huggingface_hub / vsrt pointed at it and at temporary caches."""
    flow_net, flow_bytes = spynet_payload()
    vsrt_net, vsrt_bytes = tiny_vsrt_payload(tmp_path)
    with FakeHub() as hub:
        flow_commit = hub.add(SPACE, "SPyNet.pytorch", flow_bytes, repo_type="space", commit="a" * 40)
        vsrt_commit = hub.add(MODELS, "tiny.safetensors", vsrt_bytes, commit="b" * 40)
        manifest = write_manifest(tmp_path / "models.json", flow_bytes, flow_commit, vsrt_bytes, vsrt_commit)
        cache = tmp_path / "hf-cache"
        monkeypatch.setattr(hub_constants, "ENDPOINT", hub.endpoint)
        monkeypatch.setattr(
            hub_constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        )
        monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
        monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(hub_constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
        monkeypatch.setattr(hub_constants, "AGENT_HARNESSES_PATH", str(tmp_path / "agents.json"), raising=False)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.setenv("VSRT_HOME", str(tmp_path / "vsrt-home"))
        monkeypatch.setenv("VSRT_REGISTRY", str(manifest))
        yield {
            "hub": hub,
            "cache": cache,
            "home": tmp_path / "vsrt-home",
            "flow": (flow_net, flow_bytes),
            "vsrt": (vsrt_net, vsrt_bytes),
            "tmp": tmp_path,
        }


def blobs(cache: Path) -> list[Path]:
    return [path for path in cache.rglob("blobs/*") if path.is_file()]


def same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    left, right = a.state_dict(), b.state_dict()
    return left.keys() == right.keys() and all(torch.equal(left[key], right[key]) for key in left)


def test_pth_download_lands_in_cache_is_verified_and_converted(setup, capsys):
    code, out, err = run_cli(["download-weights", "tiny-spynet", "--json"], capsys)
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert result["status"] == "downloaded"
    assert Path(result["cached_file"]).is_relative_to(setup["cache"])
    assert Path(result["path"]) == setup["home"] / "tiny-spynet.safetensors"
    assert setup["hub"].count("GET") == 1, setup["hub"].requests
    loaded = load_spynet("tiny-spynet")
    assert same_state(loaded, setup["flow"][0])


def test_second_download_does_nothing(setup, capsys):
    assert run_cli(["download-weights", "tiny-spynet"], capsys)[0] == 0
    requests = setup["hub"].count()
    code, _, err = run_cli(["download-weights", "tiny-spynet"], capsys)
    assert code == 0
    assert "already present and verified" in err
    assert setup["hub"].count() == requests


def test_safetensors_download_loads_as_the_uploaded_model(setup, capsys):
    code, _, err = run_cli(["download-weights", "--all"], capsys)
    assert code == 0, err
    original = setup["vsrt"][0]
    loaded = load_model("tiny-hub")
    frames = torch.rand(1, TINY.num_frames, 3, TINY.tile_size, TINY.tile_size)
    with torch.no_grad():
        assert torch.equal(loaded(frames), original(frames))
    assert resolve_weights("tiny-hub").is_relative_to(setup["cache"])


def test_corrupted_payload_is_rejected_and_removed(setup, capsys):
    hub = setup["hub"]
    good = setup["flow"][1]
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    hub.add(SPACE, "SPyNet.pytorch", bytes(bad), repo_type="space")
    code, _, err = run_cli(["download-weights", "tiny-spynet"], capsys)
    assert code == 1
    assert "SHA-256" in err and "deleted" in err
    assert blobs(setup["cache"]) == []
    assert not (setup["home"] / "tiny-spynet.safetensors").exists()
    with pytest.raises(WeightsMissingError):
        load_spynet("tiny-spynet")


def test_tampered_cache_is_replaced(setup, capsys):
    assert run_cli(["download-weights", "tiny-spynet"], capsys)[0] == 0
    (setup["home"] / "tiny-spynet.safetensors").unlink()
    (blob,) = blobs(setup["cache"])
    blob.write_bytes(b"\0" * blob.stat().st_size)
    code, _, err = run_cli(["download-weights", "tiny-spynet"], capsys)
    assert code == 0, err
    assert setup["hub"].count("GET") == 2
    assert same_state(load_spynet("tiny-spynet"), setup["flow"][0])


def test_offline_with_empty_cache_exits_4_without_network(setup, capsys, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    code, _, err = run_cli(["download-weights", "tiny-spynet"], capsys)
    assert code == 4
    assert "HF_HUB_OFFLINE" in err and "vsrt download-weights tiny-spynet" in err
    assert len(err.strip().splitlines()) == 1
    assert setup["hub"].count(resolve_only=False) == 0


def test_one_model_that_cannot_be_had_does_not_cost_the_others(setup, capsys):
    """Several names: each gets its own result, and the exit code is a batch's (3: some failed)."""
    code, out, err = run_cli(["download-weights", "tiny-spynet", "nonesuch", "--json"], capsys)
    assert code == 3
    results = {r["name"]: r for r in json.loads(out)["results"]}
    assert results["tiny-spynet"]["status"] != "failed"
    assert results["nonesuch"]["status"] == "failed" and results["nonesuch"]["exit_code"] == 2
    assert "unknown model 'nonesuch'" in err
    assert run_cli(["download-weights", "nonesuch", "othersuch"], capsys)[0] == 2  # all failed: their code


def test_unreachable_hub_names_the_fix(setup, capsys, monkeypatch):
    # A real unreachable host costs ~20 s of client retries; the client's own error is what
    # it raises once those are spent.
    def unreachable(**kwargs):
        raise LocalEntryNotFoundError("connection refused")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", unreachable)
    code, _, err = run_cli(["download-weights", "tiny-spynet"], capsys)
    assert code == 4
    assert "cannot reach" in err and "vsrt download-weights tiny-spynet" in err


def test_an_unwritable_cache_says_where_instead_of_retry(setup, capsys, monkeypatch):
    def read_only(**kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", read_only)
    code, _, err = run_cli(["download-weights", "tiny-spynet"], capsys)
    assert code == 4
    assert "cannot write to the Hugging Face cache" in err and "HF_HOME" in err and "retry" not in err


def test_missing_repo_exits_4(setup, capsys):
    code, _, err = run_cli(
        ["download-weights", "--repo-id", "nobody/nothing", "--filename", "x.pth", "--revision", "c" * 40], capsys
    )
    assert code == 4
    assert "not found" in err


def test_adhoc_pth_download_is_verified_and_converted(setup, capsys):
    flow_bytes = setup["flow"][1]
    args = [
        "download-weights", "--repo-id", SPACE, "--repo-type", "space", "--filename", "SPyNet.pytorch",
        "--revision", "a" * 40, "--name", "my-flow", "--sha256", hashlib.sha256(flow_bytes).hexdigest(), "--json",
    ]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert Path(result["path"]) == setup["home"] / "my-flow.safetensors"
    assert same_state(load_spynet(result["path"]), setup["flow"][0])


def test_not_downloaded_hub_model_names_the_command(setup):
    with pytest.raises(WeightsMissingError, match="vsrt download-weights tiny-spynet"):
        load_spynet("tiny-spynet")


def subprocess_env(setup, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    env.update(
        HF_ENDPOINT=setup["hub"].endpoint,
        HF_HOME=str(setup["tmp"] / "hf-home"),
        HF_HUB_CACHE=str(setup["tmp"] / "env-cache"),
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=str(REPO_ROOT),
        NO_PROXY="127.0.0.1,localhost",
        OMP_NUM_THREADS="1",
    )
    env.update(extra)
    return env


def test_environment_variables_reach_the_hub_client(setup):
    env = subprocess_env(setup)
    command = [sys.executable, "-m", "vsrt_cli", "download-weights", "tiny-spynet", "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert Path(result["cached_file"]).is_relative_to(setup["tmp"] / "env-cache")

    requests = setup["hub"].count(resolve_only=False)
    offline = subprocess_env(setup, HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "vsrt_cli", "download-weights", "tiny-hub"]
    done = subprocess.run(command, env=offline, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stderr
    assert "HF_HUB_OFFLINE" in done.stderr
    assert setup["hub"].count(resolve_only=False) == requests


def test_hub_retry_warnings_are_kept_quiet_during_a_download():
    """huggingface_hub logs two lines per retry; vsrt's one-line error replaces them."""
    import logging

    from vsrt_cli.weights.download import quiet_hub_retries

    retries = logging.getLogger("huggingface_hub.utils._http")
    before = retries.getEffectiveLevel()
    with quiet_hub_retries():
        assert not retries.isEnabledFor(logging.WARNING) and retries.isEnabledFor(logging.ERROR)
    assert retries.getEffectiveLevel() == before


# Runs vsrt in a fresh interpreter, as a user's shell does (huggingface_hub configures its
# logger on first use, which an in-process test has long since done), with the client's
# waits between retries cut to nothing.
WITHOUT_RETRY_WAITS = "import sys, time; time.sleep = lambda s: None; from vsrt_cli.cli import main; main(sys.argv[1:])"


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--repo-id", "foo/bar", "--filename", "x.pth", "--revision", "0" * 40], id="repo-id"),
        pytest.param(
            ["--repo-id", "foo/bar", "--filename", "x.pth", "--revision", "0" * 40, "--sha256", "1" * 64], id="sha256"
        ),
        pytest.param(["tiny-spynet"], id="registry"),
    ],
)
def test_an_unreachable_hub_is_one_line_whatever_the_path(setup, args):
    env = subprocess_env(setup, HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    command = [sys.executable, "-c", WITHOUT_RETRY_WAITS, "download-weights", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stderr
    assert done.stderr.startswith("vsrt: error: ") and "cannot reach the Hugging Face Hub" in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


def test_a_wrong_adhoc_hash_names_only_what_was_pinned(setup, capsys):
    args = ["download-weights", "--repo-id", MODELS, "--filename", "tiny.safetensors", "--revision", "b" * 40]
    code, _, err = run_cli([*args, "--sha256", "0" * 64], capsys)
    assert code == 1
    assert f"is not the pinned file (SHA-256 {'0' * 64})" in err and "None" not in err
    assert blobs(setup["cache"]) == []


@pytest.mark.parametrize("bad", ["xyz", "0" * 63, "g" * 64, "0" * 65])
def test_a_malformed_sha256_is_refused_before_downloading(setup, capsys, bad):
    args = ["download-weights", "--repo-id", MODELS, "--filename", "tiny.safetensors", "--revision", "b" * 40]
    code, _, err = run_cli([*args, "--sha256", bad], capsys)
    assert code == 2
    assert f"--sha256 {bad!r}: expected a SHA-256 hash, 64 hexadecimal digits" in err
    assert setup["hub"].count(resolve_only=False) == 0
