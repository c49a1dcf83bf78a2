"""Convolution + activation / residual sum in one oneDNN call (models/fused.py)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tiny_models import tiny_model
from vsrt_cli.models import fused
from vsrt_cli.models.fused import conv_act, conv_add, fused_conv_available

needs_op = pytest.mark.skipif(not fused_conv_available(), reason="this PyTorch build has no fused oneDNN convolution")


def layer(cin=6, cout=6, seed=0):
    torch.manual_seed(seed)
    return nn.Conv2d(cin, cout, 3, 1, 1).to(memory_format=torch.channels_last)


def inputs(channels=6, seed=1):
    torch.manual_seed(seed)
    return torch.randn(2, channels, 12, 10).to(memory_format=torch.channels_last)


def unfused(monkeypatch):
    monkeypatch.setattr(fused, "fused_conv_available", lambda: False)


@needs_op
def test_fp32_results_are_identical_to_the_separate_ops():
    conv, x, other = layer(), inputs(), inputs(seed=2)
    with torch.no_grad():
        assert torch.equal(conv_act(conv, x, "relu"), F.relu(conv(x)))
        assert torch.equal(conv_act(conv, x, "leaky_relu", 0.1), F.leaky_relu(conv(x), 0.1))
        assert torch.equal(conv_add(conv, x, other), other + conv(x))


@needs_op
def test_bf16_autocast_gives_bf16_within_one_rounding_step():
    conv, x, other = layer(), inputs(), inputs(seed=2).bfloat16()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = conv_act(conv, x, "leaky_relu", 0.1), conv_add(conv, x, other)
        want = F.leaky_relu(conv(x), 0.1), other + conv(x)
        # An fp32 residual makes the sum fp32, fused or not.
        assert conv_add(conv, x, other.float()).dtype == torch.float32
    for a, b in zip(got, want):
        assert a.dtype == torch.bfloat16 == b.dtype
        # One bf16 step is 2^-7 of the value: the fused op rounds once, the pair twice.
        assert torch.allclose(a.float(), b.float(), rtol=2**-7, atol=2**-7)
        assert a.is_contiguous(memory_format=torch.channels_last)


def test_training_and_unavailable_builds_take_the_separate_ops(monkeypatch):
    conv, x = layer(), inputs()
    out = conv_act(conv, x, "leaky_relu", 0.1)  # gradients on: the fused op has no backward
    assert out.grad_fn is not None
    out.sum().backward()
    assert conv.weight.grad is not None
    unfused(monkeypatch)
    with torch.no_grad():
        assert torch.equal(conv_add(conv, x, x), x + conv(x))


@needs_op
def test_the_network_computes_the_same_with_and_without_fusion(monkeypatch):
    model = tiny_model(frames=3, self_flow="spynet").to(memory_format=torch.channels_last)
    torch.manual_seed(3)
    clip = torch.rand(1, 3, 3, 16, 16)
    with torch.no_grad():
        fused_out = model(clip)
        unfused(monkeypatch)
        separate_out = model(clip)
    # fp32: the same arithmetic, though oneDNN may pick another kernel for the fused call.
    assert torch.allclose(fused_out, separate_out, rtol=0, atol=1e-5)


def test_bf16_is_left_to_aten_where_onednn_has_no_bf16_kernels(monkeypatch):
    monkeypatch.setattr(fused, "mkldnn_bf16_supported", lambda: False)
    conv, x = layer(), inputs()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(conv_act(conv, x, "leaky_relu", 0.1), F.leaky_relu(conv(x), 0.1))
