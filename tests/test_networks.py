"""The network's building blocks against the official code's behaviour (spec sections 1 and 3)."""

import dataclasses
import math

import pytest
import torch

from vsrt_cli.models import VSRTConfig, VSRTransformer, flow_warp
from vsrt_cli.models.spynet import SPyNet, load_basicsr_spynet, padded_size
from vsrt_cli.models.vsrt import FramePositionalEncoding
from tiny_models import tiny_config

TINY = tiny_config(frames=3, self_flow="spynet")


def expected_pe_t5(c: int, i: int, j: int) -> list[float]:
    return [math.sin(c), math.cos(c), math.sin(i), math.cos(i), math.sin(j)]


def expected_pe_t7(c: int, i: int, j: int) -> list[float]:
    return [math.sin(c), math.sin(c / 100), math.cos(c), math.cos(c / 100), math.sin(i), math.sin(i / 100), math.cos(i)]


@pytest.mark.parametrize("frames,formula", [(5, expected_pe_t5), (7, expected_pe_t7)])
def test_positional_encoding_matches_the_spec_table(frames, formula):
    encoding = FramePositionalEncoding(frames)
    table = encoding.table(64, 64, 64)
    assert table.shape == (frames, 64, 64, 64)
    for c, i, j in [(0, 0, 0), (1, 2, 3), (63, 17, 40), (5, 63, 63), (31, 0, 62)]:
        got = table[:, c, i, j].tolist()
        assert got == pytest.approx(formula(c, i, j), abs=2e-6), (c, i, j)


def test_positional_encoding_buffer_names_match_the_official_checkpoint():
    assert FramePositionalEncoding(5).state_dict()["penc.inv_freq"].tolist() == [1.0]
    assert FramePositionalEncoding(7).state_dict()["penc.inv_freq"].tolist() == pytest.approx([1.0, 0.01])


def test_flow_warp_with_zero_flow_is_the_identity():
    image = torch.rand(2, 3, 9, 11)
    warped = flow_warp(image, torch.zeros(2, 9, 11, 2))
    assert torch.allclose(warped, image, atol=1e-6)


def test_flow_warp_integer_shift_moves_content_by_that_shift():
    image = torch.rand(1, 3, 12, 16)
    flow = torch.zeros(1, 12, 16, 2)
    flow[..., 0] = 3.0  # sample 3 pixels to the right
    flow[..., 1] = -2.0  # and 2 pixels up
    warped = flow_warp(image, flow)
    assert torch.allclose(warped[:, :, 2:, :13], image[:, :, :10, 3:], atol=1e-5)
    # Samples from outside the image are zero (zero padding).
    assert warped[:, :, :, 13:].abs().max() == 0
    assert warped[:, :, :2, :].abs().max() == 0


def test_spynet_working_size_rounds_up_to_multiples_of_32():
    assert [padded_size(n) for n in (1, 31, 32, 33, 64, 97)] == [32, 32, 32, 64, 64, 128]


def test_spynet_rescales_flow_to_the_original_grid():
    torch.manual_seed(0)
    spynet = SPyNet().eval()
    calls = []

    def constant_flow(ref, supp):
        calls.append(tuple(ref.shape))
        flow = ref.new_zeros(ref.shape[0], 2, *ref.shape[-2:])
        flow[:, 0] = 10.0
        flow[:, 1] = 4.0
        return flow

    spynet._compute_flow = constant_flow
    flow = spynet(torch.rand(1, 3, 40, 70), torch.rand(1, 3, 40, 70))
    assert calls == [(1, 3, 64, 96)]
    assert flow.shape == (1, 2, 40, 70)
    assert torch.allclose(flow[:, 0], torch.full((1, 40, 70), 10.0 * 70 / 96))
    assert torch.allclose(flow[:, 1], torch.full((1, 40, 70), 4.0 * 40 / 64))


def test_spynet_of_identical_frames_is_small_and_shaped_like_the_input():
    torch.manual_seed(0)
    spynet = SPyNet().eval()
    frame = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        flow = spynet(frame, frame)
    assert flow.shape == (1, 2, 64, 64)
    assert torch.isfinite(flow).all()


def test_spynet_with_fewer_levels_equals_a_finest_level_that_adds_nothing():
    # With the finest level's last conv zeroed, six levels compute exactly the fifth
    # level's flow upsampled: what ``levels = 5`` must return without running it.
    torch.manual_seed(0)
    spynet = SPyNet().eval()
    ref, supp = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        for param in spynet.basic_module[-1].basic_module[-1].parameters():
            param.zero_()
        full = spynet(ref, supp)
        spynet.levels = 5
        calls = []
        spynet.basic_module[-1].register_forward_hook(lambda *args: calls.append(1))
        coarse = spynet(ref, supp)
    assert calls == []
    assert coarse.shape == full.shape
    torch.testing.assert_close(coarse, full, rtol=1e-5, atol=1e-5)
    assert coarse.abs().max() > 1e-3  # random weights: a flow that is not trivially zero


def test_flow_levels_in_the_config_set_the_levels_spynet_runs(tmp_path):
    from vsrt_cli.weights.checkpoint import load_checkpoint_model, save_checkpoint

    torch.manual_seed(0)
    six = VSRTransformer(tiny_config()).eval()
    five = VSRTransformer(dataclasses.replace(tiny_config(), flow_levels=5)).eval()
    # The same tensors whatever the levels, so every checkpoint loads into either.
    five.load_state_dict(six.state_dict())
    assert five.spynet.spynet.levels == 5 and six.spynet.spynet.levels == 6
    lrs = torch.rand(1, 3, 3, 16, 16)
    with torch.no_grad():
        assert not torch.equal(five(lrs), six(lrs))
        reloaded = load_checkpoint_model(save_checkpoint(five, tmp_path / "five.safetensors"))
        assert reloaded.config.flow_levels == 5
        assert torch.equal(reloaded(lrs), five(lrs))
    for levels in (0, 7):
        with pytest.raises(ValueError, match="flow_levels"):
            dataclasses.replace(tiny_config(), flow_levels=levels)
        with pytest.raises(ValueError, match="levels"):
            SPyNet(levels)


def test_a_config_without_flow_levels_means_all_six():
    # Checkpoints written before the field existed carry no flow_levels in their metadata.
    fields = dataclasses.asdict(tiny_config())
    del fields["flow_levels"]
    assert VSRTConfig.from_dict(fields).flow_levels == 6


def test_basicsr_spynet_keys_map_onto_the_mmediting_layout():
    reference = SPyNet().state_dict()
    basicsr = {}
    for key, value in reference.items():
        if key.endswith((".weight", ".bias")):
            parts = key.split(".")  # basic_module.L.basic_module.J.conv.weight
            basicsr[f"basic_module.{parts[1]}.basic_module.{int(parts[3]) * 2}.{parts[5]}"] = value
        else:
            basicsr[key] = value
    mapped = load_basicsr_spynet(basicsr)
    assert set(mapped) == set(reference)
    SPyNet().load_state_dict(mapped, strict=True)


def test_all_frames_are_predicted_at_4x():
    torch.manual_seed(0)
    model = VSRTransformer(TINY).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 3, 16, 16))
    assert out.shape == (2, 3, 3, 64, 64)


def test_wrong_input_size_is_rejected():
    model = VSRTransformer(TINY).eval()
    with pytest.raises(ValueError, match="expected"):
        model(torch.rand(1, 3, 3, 16, 24))


def test_batching_tiles_gives_the_same_result_as_one_at_a_time():
    torch.manual_seed(0)
    model = VSRTransformer(TINY).eval()
    tiles = torch.rand(4, 3, 3, 16, 16)
    with torch.no_grad():
        together = model(tiles)
        alone = torch.cat([model(tiles[i : i + 1]) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_supplied_flows_equal_internally_computed_ones():
    torch.manual_seed(0)
    model = VSRTransformer(TINY).eval()
    lrs = torch.rand(1, 3, 3, 16, 16)
    with torch.no_grad():
        flows = model.compute_flows(lrs)
        assert torch.equal(model(lrs, flows=flows), model(lrs))


def test_zero_self_flow_matches_spynet_pairs_between_neighbours():
    torch.manual_seed(0)
    official_pairing = VSRTransformer(TINY).eval()
    zero_ends = VSRTransformer(VSRTConfig(**{**TINY.__dict__, "self_flow": "zero"})).eval()
    zero_ends.load_state_dict(official_pairing.state_dict())
    lrs = torch.rand(1, 3, 3, 16, 16)
    with torch.no_grad():
        fw_official, bw_official = official_pairing.compute_flows(lrs)
        fw_zero, bw_zero = zero_ends.compute_flows(lrs)
    assert torch.allclose(fw_zero[:, 1:], fw_official[:, 1:], atol=1e-5)
    assert torch.allclose(bw_zero[:, :-1], bw_official[:, :-1], atol=1e-5)
    assert fw_zero[:, 0].abs().max() == 0 and bw_zero[:, -1].abs().max() == 0


@pytest.mark.parametrize("frames", [0, 4, 6])
def test_config_rejects_windows_without_a_centre_frame(frames):
    with pytest.raises(ValueError, match="num_frames must be odd"):
        tiny_config(frames)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_runs_and_stays_close(dtype):
    torch.manual_seed(0)
    model = VSRTransformer(TINY).eval()
    lrs = torch.rand(1, 3, 3, 16, 16)
    with torch.no_grad():
        reference = model(lrs)
        with torch.autocast("cpu", dtype=dtype):
            reduced = model(lrs).float()
    assert torch.isfinite(reduced).all()
    assert (reduced - reference).abs().max() < 0.1


def test_autocast_output_is_summed_in_fp32():
    """With the residual branch silenced the output is the bilinear base exactly, even
    under bf16 autocast, whose 1/256 step near 1.0 would otherwise shift whole uint8 levels."""
    model = VSRTransformer(TINY).eval()
    torch.nn.init.zeros_(model.conv_last.weight)
    torch.nn.init.zeros_(model.conv_last.bias)
    lrs = torch.rand(1, 3, 3, 16, 16) * 0.5 + 0.5
    with torch.no_grad():
        reference = model(lrs)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            reduced = model(lrs)
    assert reduced.dtype == torch.float32
    assert torch.equal(reduced, reference)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_flow_warp_keeps_sub_pixel_positions_in_reduced_precision(dtype):
    # Columns alternate 0 and 1, so a half-pixel shift must give 0.5 everywhere; with the
    # sample positions in fp16 every column from 1024 on would snap to a whole pixel.
    width = 2048
    image = (torch.arange(width) % 2).to(dtype).expand(1, 1, 2, width).contiguous()
    flow = torch.zeros(1, 2, width, 2)
    flow[..., 0] = 0.5
    warped = flow_warp(image, flow)
    assert warped.dtype == dtype
    assert torch.equal(warped[..., :-1].float(), torch.full((1, 1, 2, width - 1), 0.5))


def test_attention_logits_do_not_overflow_in_fp16():
    """Large activations make q.k over 4096 features exceed fp16's range; fp32 logits keep it finite."""
    from vsrt_cli.models.vsrt import ConvSelfAttention

    torch.manual_seed(0)
    attention = ConvSelfAttention(channels=64, patch_size=8, heads=1)
    x = torch.randn(1, 2, 64, 16, 16) * 30
    with torch.no_grad():
        reference = attention(x)
        with torch.autocast("cpu", dtype=torch.float16):
            reduced = attention(x)
    assert torch.isfinite(reduced).all()
    relative = (reduced.float() - reference).abs().max() / reference.abs().max()
    assert relative < 1e-2


def test_patch_tokens_match_unfold_and_invert_in_both_layouts():
    from vsrt_cli.models.vsrt import patch_tokens, tokens_to_frames

    batch, frames, heads = 2, 3, 2
    x = torch.rand(batch * frames, 4, 16, 24)
    tokens = patch_tokens(x, batch, 8, heads)
    per_frame = torch.nn.functional.unfold(x, 8, stride=8).view(batch, frames, 4 * 64, 6).permute(0, 1, 3, 2)
    expected = per_frame.reshape(batch, frames * 6, heads, 4 * 64 // heads).transpose(1, 2)
    assert torch.equal(tokens, expected)
    for channels_last in (False, True):
        back = tokens_to_frames(tokens, frames, 8, 16, 24, channels_last)
        assert torch.equal(back, x)
        assert back.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    # A channels-last input gives the same tokens.
    assert torch.equal(patch_tokens(x.contiguous(memory_format=torch.channels_last), batch, 8, heads), tokens)


def test_attend_fused_bf16_path_matches_fp32_attention():
    from vsrt_cli.models.vsrt import attend

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 1, 96, 1536) for _ in range(3))
    q = q * 3  # logits with a spread of a few units, where their rounding shows
    exact = attend(q.double(), k.double(), v.double())
    fast = attend(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert fast.dtype == torch.bfloat16
    # Logits rounded to bf16 give 0.064 / 0.0040 here; fp32 logits give half that.
    error = (fast.double() - exact).abs()
    assert error.max() < 0.045
    assert error.mean() < 0.0025


def test_channels_last_model_matches_the_contiguous_one():
    import copy

    torch.manual_seed(0)
    model = VSRTransformer(TINY).eval()
    fast = copy.deepcopy(model).to(memory_format=torch.channels_last)
    lrs = torch.rand(2, 3, 3, 16, 16)
    flows = (torch.randn(2, 3, 2, 16, 16), torch.randn(2, 3, 2, 16, 16))
    with torch.no_grad():
        assert torch.allclose(fast(lrs, flows=flows), model(lrs, flows=flows), atol=1e-5)


def test_prenorm_keeps_a_channels_last_map_channels_last_and_equal():
    from vsrt_cli.models.vsrt import PreNorm

    torch.manual_seed(0)
    norm = PreNorm(8, 16, torch.nn.Identity())
    with torch.no_grad():
        norm.norm.weight.normal_()
        norm.norm.bias.normal_()
    x = torch.randn(2, 3, 8, 16, 16)
    pixels_last = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    with torch.no_grad():
        out = norm(pixels_last)
        assert torch.allclose(out, norm.norm(x), atol=1e-5)
    assert out.permute(0, 1, 3, 4, 2).is_contiguous()


def test_feedforward_warps_each_frames_neighbours_onto_it():
    from vsrt_cli.models.vsrt import FlowFeedForward, lrelu

    torch.manual_seed(0)
    ff = FlowFeedForward(8, 1).eval()
    batch, frames = 2, 3
    x = torch.randn(batch, frames, 8, 16, 16)
    lrs = torch.rand(batch, frames, 3, 16, 16)
    zero = torch.zeros(batch, frames, 2, 16, 16)
    following = torch.cat([x[:, 1:], x[:, -1:]], dim=1).flatten(0, 1)
    preceding = torch.cat([x[:, :1], x[:, :-1]], dim=1).flatten(0, 1)
    lr = lrs.flatten(0, 1)
    with torch.no_grad():
        backward = ff.backward_resblocks(torch.cat([lr, following], dim=1))
        forward = ff.forward_resblocks(torch.cat([lr, preceding], dim=1))
        expected = lrelu(ff.fusion(torch.cat([backward, forward], dim=1))).view_as(x)
        assert torch.allclose(ff(x, lrs, zero, zero), expected, atol=1e-6)
