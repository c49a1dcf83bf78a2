"""The official REDS preset against the official state dict, and the import round trip.

The fixture lists every key and shape of the authors' network as instantiated from their
code; loading their checkpoint with strict=True needs exactly this list.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vsrt_cli.cli import main
from vsrt_cli.models.vsrt import PRESETS, VSRTransformer
from vsrt_cli.weights.loading import load_model

FIXTURE = Path(__file__).parent / "fixtures" / "official_reds_state_dict.tsv"


def official_table() -> dict[str, tuple[tuple[int, ...], str]]:
    rows = {}
    for line in FIXTURE.read_text().splitlines():
        if line.startswith("#") or line.startswith("key\t") or not line.strip():
            continue
        key, shape, kind = line.split("\t")
        rows[key] = (tuple(int(size) for size in shape.split("x")), kind)
    return rows


@pytest.fixture(scope="module")
def official_network() -> VSRTransformer:
    torch.manual_seed(2021)
    return VSRTransformer(PRESETS["official-reds"]).eval()


def test_official_preset_keys_and_shapes_match_the_official_network(official_network):
    expected = official_table()
    assert len(expected) == 1503
    state = official_network.state_dict()
    assert list(state) == list(expected)
    assert {key: tuple(value.shape) for key, value in state.items()} == {
        key: shape for key, (shape, _) in expected.items()
    }
    buffers = {name for name, _ in official_network.named_buffers()}
    assert buffers == {key for key, (_, kind) in expected.items() if kind == "buffer"}
    assert sum(p.numel() for p in official_network.parameters()) == 32_564_335


def test_official_checkpoint_round_trip(official_network, tmp_path, monkeypatch, capsys):
    """{'params': ...} with DataParallel prefixes -> vsrt import-weights (default destination)
    -> load_model('vsrt-official-reds'): the same config and bit-identical tensors.

    The forward pass is left to the tiny-config round trip in test_weights_import.py (same
    code path, same comparison): one official forward costs 15-30 s on this CPU.
    """
    monkeypatch.setenv("VSRT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VSRT_REGISTRY", raising=False)
    state = {f"module.{key}": value for key, value in official_network.state_dict().items()}
    source = tmp_path / "vsrTransformer_reds_x4_final.pth"
    torch.save({"params": state}, source)

    with pytest.raises(SystemExit) as stopped:
        main(["import-weights", str(source)])
    err = capsys.readouterr().err
    assert stopped.value.code == 0, err
    assert "T=5 assumed" in err
    assert "-m vsrt-official-reds" in err

    loaded = load_model("vsrt-official-reds")
    assert loaded.config == official_network.config
    assert not loaded.training
    original, imported = official_network.state_dict(), loaded.state_dict()
    assert list(imported) == list(original)
    assert all(torch.equal(imported[key], original[key]) for key in original)
    assert all(value.dtype == torch.float32 for value in imported.values())
