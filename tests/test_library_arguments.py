"""The library API's arguments: what each call takes, and a VsrtError (never a raw
TypeError or AttributeError from inside) for what it does not."""

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

import vsrt_cli
from media import make_video
from tiny_models import one_torch_thread, tiny_model
from vsrt_cli.errors import InputNotFoundError, UsageError
from vsrt_cli.weights.checkpoint import save_checkpoint

one_thread = pytest.fixture(autouse=True)(one_torch_thread)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_checkpoint(tiny_model(), tmp_path_factory.mktemp("weights") / "tiny.safetensors")


def frames(count=2, size=(12, 10)):
    rng = np.random.default_rng(0)
    return [rng.random((size[1], size[0], 3), dtype=np.float32) for _ in range(count)]


@pytest.mark.parametrize("given,expected", [
    (dict(start="1:30", duration="2.5"), (Fraction(90), Fraction(5, 2))),  # as the command line takes them
    (dict(start=np.int64(2), duration=np.float32(0.5)), (Fraction(2), Fraction(1, 2))),
    (dict(start=Decimal("0.1")), (Fraction(1, 10), None)),
    (dict(start=Fraction(3, 2)), (Fraction(3, 2), None)),
])
def test_a_segment_takes_numbers_and_the_command_line_s_texts(given, expected):
    segment = vsrt_cli.Segment(**given)
    assert (segment.start, segment.duration) == expected


@pytest.mark.parametrize("given,message", [
    (dict(duration="abc"), "--duration 'abc': expected seconds"),
    (dict(start=float("nan")), "--start nan: expected a finite number"),
    (dict(start=float("inf")), "--start inf: expected a finite number"),
    (dict(duration=float("inf")), "--duration inf: expected a finite number"),
    (dict(start=None), "--start None: expected a number of seconds"),
    (dict(start=True), "--start True: expected a number of seconds"),
    (dict(start=-1), "must not be negative"),
])
def test_a_segment_refuses_what_is_not_a_time(given, message):
    with pytest.raises(UsageError, match=message):
        vsrt_cli.Segment(**given)


def test_upscale_clip_takes_a_model_as_upscale_video_does(weights):
    model = vsrt_cli.load_model(weights)
    expected = vsrt_cli.upscale_clip(model, frames(), vsrt_cli.InferenceOptions())
    for given in (weights, str(weights)):  # a path, as text or not; options None: the defaults
        assert all(np.array_equal(a, b) for a, b in zip(vsrt_cli.upscale_clip(given, frames(), None), expected))
    with pytest.raises(UsageError, match="model must be a vsrt VSRTransformer .* got int"):
        vsrt_cli.upscale_clip(42, frames())
    with pytest.raises(UsageError, match="must be a vsrt_cli.InferenceOptions, got dict"):
        vsrt_cli.upscale_clip(model, frames(), {"device": "cpu"})


def test_upscale_video_refuses_arguments_of_the_wrong_kind(tmp_path, weights):
    source = make_video(tmp_path / "in.mp4", width=16, height=16, frames=2)
    target = tmp_path / "out.mp4"
    for arguments, message in (
        (dict(model=42), "model must be a vsrt VSRTransformer"),
        (dict(model=weights, segment=(0, 0.25)), "segment must be a vsrt_cli.Segment or None, got tuple"),
        (dict(model=weights, inference={"device": "cpu"}), "must be a vsrt_cli.InferenceOptions"),
        (dict(model=weights, encode={"crf": 20}), "encode must be a vsrt_cli.EncodeOptions or None, got dict"),
    ):
        with pytest.raises(UsageError, match=message):
            vsrt_cli.upscale_video(source, target, **arguments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_a_missing_input_has_the_command_line_s_exit_code(tmp_path, weights):
    with pytest.raises(InputNotFoundError, match="input not found") as missing:
        vsrt_cli.upscale_video(tmp_path / "none.mp4", tmp_path / "out.mp4", weights)
    assert missing.value.exit_code == 2 and isinstance(missing.value, vsrt_cli.errors.InputError)
    with pytest.raises(InputNotFoundError, match="no picture matches"):
        vsrt_cli.upscale_video(tmp_path / "scan_%04d.png", tmp_path / "out.mp4", weights)


@pytest.mark.parametrize("given,message", [
    (42, "a model is a name or a path, not int 42"),
    (b"tiny.safetensors", "a model is a name or a path, not bytes"),
    ("", "an empty model name"),
    ("  ", "an empty model name"),
])
def test_load_model_refuses_what_names_no_model(given, message):
    with pytest.raises(UsageError, match=message):
        vsrt_cli.load_model(given)


def test_encode_options_check_the_kinds_of_their_values():
    assert vsrt_cli.EncodeOptions(preset=None).preset == "medium"  # None: the default, as for the others
    with pytest.raises(UsageError, match="encoder_options must be a dict of FFmpeg option names"):
        vsrt_cli.EncodeOptions(encoder_options=["tune=film"])
    with pytest.raises(UsageError, match="EncodeOptions.codec must be a string, got int"):
        vsrt_cli.EncodeOptions(codec=264)
