"""Compute accounting against the spec's section 7 figures."""

import pytest

from tiny_models import tiny_config
from vsrt_cli.models import PRESETS
from vsrt_cli.models.compute import flow_pair_macs, forward_macs_with_flow, parameter_count, window_macs
from vsrt_cli.plan.cost import frame_cost, official_protocol_macs


def test_official_forward_and_protocol_costs_match_the_spec():
    official = PRESETS["official-reds"]
    assert parameter_count(official) == 32_564_335
    # 569.94 GMAC per forward (SPyNet's 12 pairs included), 28.5 TMAC per 180x320 frame.
    assert forward_macs_with_flow(official) / 1e9 == pytest.approx(569.94, abs=0.01)
    assert official_protocol_macs(180, 320, 64, forward_macs_with_flow(official)) / 1e12 == pytest.approx(28.5, abs=0.01)
    assert flow_pair_macs(64, 64) / 1e9 == pytest.approx(15.72 / 12, abs=0.001)


def test_frame_cost_counts_tiles_windows_and_flows():
    config = tiny_config(frames=5)
    cost = frame_cost(
        32,
        48,
        num_frames=5,
        tile_size=16,
        overlap=2,
        stride=3,
        window_macs=window_macs(config),
        flow_pair_macs=1000,
        spynet_self_flow=False,
    )
    # Tiles at 16 px with >= 2 px overlap over 32x48: 3 rows x 4 columns.
    assert cost.tiles_per_window == 12
    assert cost.model_macs == pytest.approx(12 * window_macs(config) / 3)
    assert cost.flow_macs == 2 * 1000
    assert cost.redundancy == pytest.approx(12 * 5 * 256 / (3 * 32 * 48))


def test_fewer_flow_levels_leave_out_the_finest_levels_macs():
    # Each level has a quarter of the pixels of the next finer one, so five of six levels
    # cost (1/4 + ... + 1/4^5) / (1 + 1/4 + ... + 1/4^5) of the whole.
    share = sum(4.0**-j for j in range(1, 6)) / sum(4.0**-j for j in range(6))
    assert flow_pair_macs(128, 192, 5) / flow_pair_macs(128, 192) == pytest.approx(share, rel=1e-3)
    assert flow_pair_macs(128, 192, 6) == flow_pair_macs(128, 192)
