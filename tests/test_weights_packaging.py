"""The wheel carries the bundled weights, and an installed copy finds them with no checkout.

The wheel is built from a copy of the tree (so the working tree gets no build/ or
egg-info), with a tiny bundled model added to the copy's weights/ folder; the unpacked
wheel is then imported from another directory, as an installed package would be.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import torch

from vsrt_cli.models.vsrt import VSRTConfig, VSRTransformer
from vsrt_cli.weights.checkpoint import save_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = VSRTConfig(
    num_frames=3, channels=8, tile_size=16, patch_size=4, depth=1,
    extract_blocks=1, feedforward_blocks=1, reconstruct_blocks=1,
)
PROBE = """
import sys, vsrt_cli
from vsrt_cli.weights.loading import resolve_weights
model = vsrt_cli.load_model("packaged-tiny")
path = resolve_weights("packaged-tiny")
print(path)
print(type(model).__name__, model.config.channels)
"""


def copy_tree(destination: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    shutil.copy2(REPO_ROOT / "pyproject.toml", destination / "pyproject.toml")
    for name in ("README.md", "LICENSE"):
        if (REPO_ROOT / name).exists():
            shutil.copy2(REPO_ROOT / name, destination / name)
    shutil.copytree(REPO_ROOT / "vsrt_cli", destination / "vsrt_cli", ignore=ignore)
    shutil.copytree(REPO_ROOT / "weights", destination / "weights", ignore=ignore)


def test_wheel_contains_manifest_weights_and_every_module(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    copy_tree(source)
    torch.manual_seed(0)
    save_checkpoint(VSRTransformer(TINY), source / "weights" / "packaged-tiny.safetensors")
    manifest_path = source / "weights" / "models.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["models"].append(
        {"name": "packaged-tiny", "kind": "vsr-transformer", "config": json.loads(TINY.to_json()),
         "file": "packaged-tiny.safetensors", "source": {"type": "bundled"}}
    )
    manifest_path.write_text(json.dumps(manifest))

    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(tmp_path / "dist")],
        cwd=source, capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("vsrt-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    bundled = "vsrt_cli/_bundled_weights/"
    expected_weights = {bundled + path.name for path in (source / "weights").iterdir()
                        if path.suffix in (".json", ".safetensors", ".md")}
    assert bundled + "models.json" in expected_weights and bundled + "packaged-tiny.safetensors" in expected_weights
    assert expected_weights <= names
    shipped = {path.relative_to(source).as_posix() for path in (source / "vsrt_cli").rglob("*") if path.is_file()}
    missing = sorted(shipped - names)
    assert not missing, f"list their packages (and data patterns) in pyproject.toml [tool.setuptools]: {missing}"

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("VSRT_REGISTRY", "PYTHONPATH")}
    env.update(PYTHONPATH=str(site), VSRT_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    located, described = probe.stdout.strip().splitlines()
    assert Path(located) == site / "vsrt_cli" / "_bundled_weights" / "packaged-tiny.safetensors"
    assert described == "VSRTransformer 8"
