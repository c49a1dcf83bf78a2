"""The training loop: it learns, it resumes bit-exactly, it exports loadable weights.

Runs the tiny config on generated natural-looking photos in a temp folder; nothing is read
from ../shared.
"""

from __future__ import annotations

import dataclasses
import json
import re
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from test_training_data import natural_image, panning_frames, write_image
from tiny_models import tiny_config
from vsrt_cli.cli import main
from vsrt_cli.quality.imresize import bicubic_downscale_uint8
from vsrt_cli.training.config import CONFIG_DIR, RunConfig, ValidationConfig, load_config
from vsrt_cli.training.trainer import Trainer, charbonnier, learning_rate
from vsrt_cli.weights.checkpoint import load_checkpoint, load_checkpoint_model


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i in range(3):
        write_image(folder / f"photo{i}.png", natural_image(300, 340, seed=20 + i))
    return folder


def tiny(photo_dir: Path, tmp_path: Path, **train) -> RunConfig:
    config = load_config("tiny")
    data = dataclasses.replace(config.data, photos=str(photo_dir), cache_dir=str(tmp_path / "cache"))
    return dataclasses.replace(config, data=data, train=dataclasses.replace(config.train, **train))


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_tiny_run_lowers_the_loss(photo_dir, tmp_path):
    trainer = Trainer(tiny(photo_dir, tmp_path), tmp_path / "run", threads=1, log=lambda _: None, note=lambda _: None)
    data = trainer.load_data()
    # A fixed batch the run never trains on (another seed), scored before and after.
    lr, gt = data.batch(seed=12345, step=0, batch_size=6)

    def held_out_loss(model) -> float:
        with torch.no_grad():
            return float(charbonnier(model(lr), gt, 1e-3))

    before = held_out_loss(trainer.model)
    summary = trainer.run()
    after_model = held_out_loss(trainer.model)
    after_ema = held_out_loss(trainer.ema.model)
    assert summary["step"] == 40 and summary["samples"] == 80
    assert after_model < 0.6 * before, (before, after_model)
    assert after_ema < 0.8 * before, (before, after_ema)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if e["event"] == "train"] == [10, 20, 30, 40]
    assert log[-1]["loss"] < log[0]["loss"]


def test_resumed_run_matches_an_uninterrupted_one_exactly(photo_dir, tmp_path):
    config = tiny(photo_dir, tmp_path, total_steps=16)
    quiet = {"threads": 1, "log": lambda _: None, "note": lambda _: None}
    straight = Trainer(config, tmp_path / "straight", **quiet)
    straight.run()

    first = Trainer(config, tmp_path / "split", **quiet)
    first.run(max_steps=7)
    assert first.step == 7
    with pytest.raises(Exception, match="already holds a run"):
        Trainer(config, tmp_path / "split", **quiet)
    resumed = Trainer(config, tmp_path / "split", resume=True, **quiet)
    assert resumed.step == 7 and resumed.samples == 14
    # The optimiser state came back too: its lr is the one step 7 (index 6) trained with.
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(learning_rate(6, config.train))
    resumed.run()

    assert resumed.step == straight.step == 16
    assert _states_equal(resumed.model.state_dict(), straight.model.state_dict())
    assert _states_equal(resumed.ema.model.state_dict(), straight.ema.model.state_dict())
    a, b = resumed.optimizer.state_dict()["state"], straight.optimizer.state_dict()["state"]
    assert a.keys() == b.keys() and all(_states_equal(a[k], b[k]) for k in a)
    # And training did change the weights, so the equality above means something.
    fresh = Trainer(config, tmp_path / "fresh", **quiet)
    assert not _states_equal(fresh.model.state_dict(), straight.model.state_dict())


def test_training_runs_channels_last_and_resumes_a_contiguous_state(photo_dir, tmp_path):
    config = tiny(photo_dir, tmp_path, total_steps=6)
    quiet = {"threads": 1, "log": lambda _: None, "note": lambda _: None}
    first = Trainer(config, tmp_path / "run", **quiet)
    first.run(max_steps=3)
    conv = first.model.conv_first.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    # A state as runs before channels-last training saved it: every tensor contiguous.
    path = tmp_path / "run" / "last.pt"
    state = torch.load(path, weights_only=False)
    for key in ("model", "ema"):
        state[key] = {k: v.contiguous() for k, v in state[key].items()}
    for moments in state["optimizer"]["state"].values():
        for k, v in moments.items():
            moments[k] = v.contiguous() if torch.is_tensor(v) else v
    torch.save(state, path)

    resumed = Trainer(config, tmp_path / "run", resume=True, **quiet)
    assert torch.equal(resumed.model.conv_first.weight, conv)
    for param in resumed.model.parameters():
        for value in resumed.optimizer.state.get(param, {}).values():
            if torch.is_tensor(value) and value.shape == param.shape:
                assert value.stride() == param.stride()
    assert resumed.run()["step"] == 6


def test_a_fine_tune_starts_from_given_weights(photo_dir, tmp_path):
    from vsrt_cli.errors import UsageError
    from vsrt_cli.weights.checkpoint import save_checkpoint

    quiet = {"threads": 1, "log": lambda _: None, "note": lambda _: None}
    first = Trainer(tiny(photo_dir, tmp_path, total_steps=6), tmp_path / "first", **quiet)
    first.run()
    exported = save_checkpoint(first.ema.model, tmp_path / "first.safetensors")
    for source in (exported, tmp_path / "first" / "last.pt"):
        tuned = Trainer(tiny(photo_dir, tmp_path, init_weights=str(source)), tmp_path / f"ft-{source.suffix[1:]}", **quiet)
        # Both the network and its average start at the first run's EMA weights.
        assert _states_equal(tuned.model.state_dict(), first.ema.model.state_dict())
        assert _states_equal(tuned.ema.model.state_dict(), first.ema.model.state_dict())
    other = dataclasses.replace(first.config.model, channels=first.config.model.channels * 2)
    wider = dataclasses.replace(tiny(photo_dir, tmp_path, init_weights=str(exported)), model=other)
    with pytest.raises(UsageError, match="different architecture"):
        Trainer(wider, tmp_path / "wider", **quiet)
    with pytest.raises(UsageError, match="does not exist"):
        Trainer(tiny(photo_dir, tmp_path, init_weights=str(tmp_path / "none.pt")), tmp_path / "none", **quiet)


def test_a_teacher_adds_its_distance_to_the_loss(photo_dir, tmp_path):
    from vsrt_cli.errors import UsageError
    from vsrt_cli.weights.checkpoint import save_checkpoint

    quiet = {"threads": 1, "log": lambda _: None, "note": lambda _: None}
    first = Trainer(tiny(photo_dir, tmp_path, total_steps=4, bf16="off"), tmp_path / "first", **quiet)
    first.run()
    weights = str(save_checkpoint(first.ema.model, tmp_path / "first.safetensors"))
    runs = {}
    for name, train in {
        "plain": {},
        "self": {"teacher_weights": weights, "teacher_ensemble": 1, "teacher_weight": 2.0},
        "ensemble": {"teacher_weights": weights, "teacher_ensemble": 4},
    }.items():
        runs[name] = Trainer(tiny(photo_dir, tmp_path, init_weights=weights, bf16="off", **train), tmp_path / name, **quiet)
    data = runs["plain"].load_data()
    lr, gt = data.batch(seed=5, step=0, batch_size=2)
    losses = {name: trainer.train_step(lr, gt) for name, trainer in runs.items()}
    # A teacher that is the student itself, run once, outputs what the student does: the
    # Charbonnier distance is then eps, added with its weight.
    assert losses["self"] == pytest.approx(losses["plain"] + 2.0 * 1e-3, rel=1e-4)
    # Its ensemble differs from the student's single pass, and that difference is taught.
    assert losses["ensemble"] > losses["plain"] + 2e-3
    assert all(not p.requires_grad for p in runs["ensemble"].teacher.parameters())
    with pytest.raises(UsageError, match="teacher_ensemble"):
        tiny(photo_dir, tmp_path, teacher_ensemble=3).train.check()


def test_a_coarser_flow_run_keeps_every_tensor_and_its_teacher_keeps_its_own_flows(photo_dir, tmp_path):
    from vsrt_cli.weights.checkpoint import save_checkpoint

    quiet = {"threads": 1, "log": lambda _: None, "note": lambda _: None}
    first = Trainer(tiny(photo_dir, tmp_path, total_steps=4, bf16="off"), tmp_path / "first", **quiet)
    first.run()
    weights = str(save_checkpoint(first.ema.model, tmp_path / "first.safetensors"))
    coarse = dataclasses.replace(first.config.model, flow_levels=5)

    def trainer(name: str, model=first.config.model, **train) -> Trainer:
        config = tiny(photo_dir, tmp_path, init_weights=weights, bf16="off", **train)
        return Trainer(dataclasses.replace(config, model=model), tmp_path / name, **quiet)

    taught = {"teacher_weights": weights, "teacher_ensemble": 1}
    plain, student = trainer("plain", coarse), trainer("student", coarse, **taught)
    # Only which SPyNet levels run changed: every tensor carried over.
    assert _states_equal(student.model.state_dict(), first.ema.model.state_dict())
    assert student.model.spynet.spynet.levels == 5
    # The teacher is built from its own file: six levels, not the student's five.
    assert student.teacher.config == first.config.model
    assert student.teacher.spynet.spynet.levels == 6
    assert not student.teacher_shares_flows
    lr, gt = plain.load_data().batch(seed=5, step=0, batch_size=2)
    given = []
    student.teacher.register_forward_pre_hook(
        lambda module, args, kwargs: given.append(kwargs["flows"]), with_kwargs=True
    )
    student.train_step(lr, gt)
    with torch.no_grad():
        own, students = student.teacher.compute_flows(lr), plain.model.compute_flows(lr)
    assert not torch.equal(own[0], students[0])  # five levels do give other flows
    assert len(given) == 1 and all(torch.equal(a, b) for a, b in zip(given[0], own))
    # Same levels, same frozen SPyNet: the student's flows are reused, also after a resume.
    same = trainer("same", total_steps=3, **taught)
    assert same.teacher_shares_flows
    same.run()
    resumed = Trainer(same.config, tmp_path / "same", resume=True, **quiet)
    assert resumed.teacher_shares_flows
    assert not trainer("flow", train_flow=True, **taught).teacher_shares_flows


def test_spynet_trains_only_when_asked_and_at_its_own_learning_rate(photo_dir, tmp_path):
    quiet = {"threads": 1, "log": lambda _: None, "note": lambda _: None}
    settings = {"warmup_steps": 0, "lr": 1e-3, "min_lr": 1e-3, "bf16": "off"}
    frozen = Trainer(tiny(photo_dir, tmp_path, **settings), tmp_path / "frozen", **quiet)
    scaled = Trainer(
        tiny(photo_dir, tmp_path, train_flow=True, flow_lr_scale=0.125, **settings), tmp_path / "scaled", **quiet
    )
    lr, gt = frozen.load_data().batch(seed=3, step=0, batch_size=2)
    moved = {}
    for name, trainer in (("frozen", frozen), ("scaled", scaled)):
        before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        trainer.train_step(lr, gt)
        after = trainer.model.state_dict()
        steps = {k: float((after[k] - before[k]).abs().max()) for k in before if before[k].is_floating_point()}
        moved[name] = (
            max(v for k, v in steps.items() if k.startswith("spynet.")),
            max(v for k, v in steps.items() if not k.startswith("spynet.")),
        )
    # Adam's first step moves each weight by about its learning rate.
    assert moved["frozen"][0] == 0 and moved["frozen"][1] == pytest.approx(1e-3, rel=0.01)
    assert moved["scaled"][0] == pytest.approx(0.125e-3, rel=0.01)
    assert moved["scaled"][1] == pytest.approx(1e-3, rel=0.01)
    with pytest.raises(Exception, match="flow_lr_scale"):
        tiny(photo_dir, tmp_path, flow_lr_scale=0).train.check()


def test_a_deeper_run_starts_computing_what_the_shallower_one_did(photo_dir, tmp_path):
    from vsrt_cli.weights.checkpoint import save_checkpoint

    quiet = {"threads": 1, "log": lambda _: None, "note": lambda _: None}
    first = Trainer(tiny(photo_dir, tmp_path, total_steps=4), tmp_path / "first", **quiet)
    first.run()
    exported = save_checkpoint(first.ema.model, tmp_path / "first.safetensors")
    shallow = first.config.model
    deeper = dataclasses.replace(
        shallow,
        extract_blocks=shallow.extract_blocks + 1,
        feedforward_blocks=shallow.feedforward_blocks + 2,
        reconstruct_blocks=shallow.reconstruct_blocks + 1,
    )
    grown = Trainer(
        dataclasses.replace(tiny(photo_dir, tmp_path, init_weights=str(exported), total_steps=4), model=deeper),
        tmp_path / "grown",
        **quiet,
    )
    torch.manual_seed(3)
    lrs = torch.rand(2, shallow.num_frames, 3, shallow.tile_size, shallow.tile_size)
    with torch.no_grad():
        expected = first.ema.model.eval()(lrs)
        assert torch.equal(grown.model.eval()(lrs), expected)
        assert torch.equal(grown.ema.model(lrs), expected)
    # The added blocks do learn: their second convs leave zero after a few steps.
    grown.model.train()
    grown.run()
    added = grown.model.reconstruction[shallow.reconstruct_blocks].conv2.weight
    assert added.abs().sum() > 0


def test_only_block_counts_may_grow():
    from vsrt_cli.models import VSRTransformer
    from vsrt_cli.training.growth import can_deepen, deepened_state

    small = tiny_config()
    assert can_deepen(small, dataclasses.replace(small, reconstruct_blocks=3))
    assert can_deepen(small, small)
    assert not can_deepen(dataclasses.replace(small, reconstruct_blocks=3), small)  # fewer blocks
    assert not can_deepen(small, dataclasses.replace(small, channels=16))
    assert not can_deepen(small, dataclasses.replace(small, depth=2))
    # The number of SPyNet levels that run changes no tensor.
    assert can_deepen(small, dataclasses.replace(small, flow_levels=4, reconstruct_blocks=2))
    source = VSRTransformer(small).state_dict()
    target = VSRTransformer(dataclasses.replace(small, feedforward_blocks=2)).state_dict()
    state = deepened_state(source, target)
    added = "transformer.layers.0.1.fn.fn.forward_resblocks.main.2.1"
    assert torch.count_nonzero(state[f"{added}.conv2.weight"]) == 0
    assert torch.count_nonzero(state[f"{added}.conv2.bias"]) == 0
    assert torch.equal(state[f"{added}.conv1.weight"], target[f"{added}.conv1.weight"])
    assert all(torch.equal(state[k], v) for k, v in source.items())
    with pytest.raises(ValueError, match="lacks"):
        deepened_state(target, source)
    wider = VSRTransformer(dataclasses.replace(small, depth=2)).state_dict()
    with pytest.raises(ValueError, match="not part of an added residual block"):
        deepened_state(source, wider)


def test_learning_rate_warms_up_then_follows_a_cosine():
    config = load_config("tiny").train
    config = dataclasses.replace(config, lr=1e-3, min_lr=1e-5, warmup_steps=10, total_steps=110)
    assert learning_rate(0, config) == pytest.approx(1e-4)
    assert learning_rate(9, config) == pytest.approx(1e-3)
    assert learning_rate(60, config) == pytest.approx((1e-3 + 1e-5) / 2)
    assert learning_rate(110, config) == pytest.approx(1e-5)
    values = [learning_rate(s, config) for s in range(10, 111)]
    assert all(x >= y for x, y in zip(values, values[1:]))


def _write_validation_set(root: Path, frames: int = 3) -> None:
    """A stand-in held-out set in the real layout (GT/, BIx4/, manifest.json)."""
    clips = []
    for k, name in enumerate(("city", "cockatoo")):
        for sub in ("GT", "BIx4"):
            (root / sub / name).mkdir(parents=True)
        for i, gt in enumerate(panning_frames(frames, 64, 64, seed=40 + k, step=2)):
            write_image(root / "GT" / name / f"{i:08d}.png", gt)
            write_image(root / "BIx4" / name / f"{i:08d}.png", bicubic_downscale_uint8(gt, 4))
        clips.append({"name": name, "frames": frames})
    (root / "manifest.json").write_text(json.dumps({"format": "vsrt-validation", "version": 1, "clips": clips}))


def test_cli_trains_validates_exports_and_resumes(photo_dir, tmp_path, capsys):
    val_dir = tmp_path / "val"
    _write_validation_set(val_dir)
    config = tiny(photo_dir, tmp_path, total_steps=8, log_every=2)
    config = dataclasses.replace(config, validation=ValidationConfig(dir=str(val_dir), source=None, every_steps=4, frames=3))
    config_file = tmp_path / "run.json"
    config_file.write_text(json.dumps(config.to_dict()))
    out = tmp_path / "run"

    def vsrt(*args: str) -> int:
        with pytest.raises(SystemExit) as exit_info:
            main(["train", str(config_file), "--out", str(out), "--threads", "1", *args])
        return exit_info.value.code

    assert vsrt("--max-steps", "5") == 0
    printed = capsys.readouterr().out
    assert "step 2/8" in printed and "val step 4: PSNR-Y" in printed
    for name in ("last.pt", "ema.safetensors", "best.safetensors", "log.jsonl", "config.json"):
        assert (out / name).is_file(), name
    _, _, meta = load_checkpoint(out / "ema.safetensors")
    assert meta["training_step"] == "5"
    model = load_checkpoint_model(out / "best.safetensors")
    assert model.config == config.model

    assert vsrt("--max-steps", "6") == 2  # the folder holds a run: refuse to overwrite it
    assert vsrt("--resume") == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    vals = [e for e in log if e["event"] == "val"]
    assert [e["step"] for e in vals] == [4, 8]
    for entry in vals:
        assert np.isfinite(entry["psnr_y"]) and np.isfinite(entry["bicubic_psnr_y"])
        assert set(entry["clips"]) == {"city", "cockatoo"}
    trains = [e for e in log if e["event"] == "train"]
    assert [e["step"] for e in trains] == [2, 4, 5, 6, 8]
    assert trains[-1]["samples"] == 16
    _, _, meta = load_checkpoint(out / "ema.safetensors")
    assert meta["training_step"] == "8"


def test_bundled_small_config_is_the_agreed_architecture():
    config = load_config("vsrt-small")
    model = config.model
    assert (model.num_frames, model.channels, model.tile_size, model.patch_size, model.heads) == (5, 24, 64, 8, 1)
    assert (model.depth, model.extract_blocks, model.feedforward_blocks, model.reconstruct_blocks) == (2, 2, 2, 2)
    assert (model.upsample_channels, model.self_flow) == (16, "zero")
    assert config.train.train_flow is False and config.data.gt_size == 256
    assert {"cityCC0.mpg", "cockatoo.mp4"} <= set(config.data.exclude)


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_shipped_config_loads_and_keeps_the_held_out_clips_out(path):
    config = load_config(path)
    assert config.name == path.stem  # its runs/<name> folder is where --resume looks
    repo = Path(__file__).resolve().parents[1]
    for weights in (config.train.init_weights, config.train.teacher_weights):
        if weights is not None:  # committed files, so that the run can be repeated
            assert (repo / weights).is_file(), weights
    if config.data.videos and config.name != "tiny":
        assert {"cityCC0.mpg", "cockatoo.mp4"} <= set(config.data.exclude)


@pytest.mark.parametrize("stop,expected", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_run_saves_and_exits_with_the_signals_code(photo_dir, tmp_path, monkeypatch, capsys, stop, expected):
    """Saved and resumable, but not finished: `vsrt train ... && vsrt eval ...` must not go on."""
    config_file = tmp_path / "run.json"
    config_file.write_text(json.dumps(tiny(photo_dir, tmp_path, total_steps=50).to_dict()))
    take_step = Trainer.train_step

    def step_then_signal(self, *args):
        loss = take_step(self, *args)
        if self.step == 2:
            os.kill(os.getpid(), stop)
        return loss

    monkeypatch.setattr(Trainer, "train_step", step_then_signal)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(config_file), "--out", str(tmp_path / "run"), "--threads", "1"])
    assert exit_info.value.code == expected
    printed = capsys.readouterr()
    assert f"stopped at step 2 ({stop.name})" in printed.out + printed.err
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 2


@pytest.mark.parametrize(
    "section,field,value,message",
    [
        ("train", "batch_size", "2", 'train.batch_size must be a whole number, got "2"'),
        ("train", "lr", "0.001", "train.lr must be a number"),
        ("train", "total_steps", None, "train.total_steps must be a whole number, got null"),
        ("train", "total_steps", 20.5, "a whole number, got 20.5"),
        ("train", "betas", [0.9], "train.betas must be a list of 2 numbers"),
        ("train", "grad_clip", -1, "train.grad_clip must be above 0"),
        ("data", "exclude", "p0.png", "data.exclude must be a list of strings"),
        ("data", "gt_size", 0, "positive multiple of 4"),
        # The tiny model's tile is 16: its training crops must be 64 GT pixels, no other size.
        ("data", "gt_size", 128, "data.gt_size must be 4 x model.tile_size = 64 (the network takes 16x16 LR crops), got 128"),
        ("data", "gt_size", 60, "data.gt_size must be 4 x model.tile_size = 64"),
        ("validation", "every_steps", -1, "validation.every_steps must be >= 0"),
        ("model", "channels", -1, "channels must be at least 1"),
    ],
)
def test_a_wrong_config_value_is_one_usage_error(section, field, value, message):
    """Not a TypeError deep in training, and not silently wrong training (a negative
    grad_clip turned every gradient around; an exclude string was split into letters)."""
    from vsrt_cli.errors import UsageError

    raw = load_config("tiny").to_dict()
    raw[section][field] = value
    with pytest.raises(UsageError, match=re.escape(message)):
        RunConfig.from_dict(raw)
    raw = load_config("tiny").to_dict()
    raw["train"] = []
    with pytest.raises(UsageError, match="config section 'train' must be an object"):
        RunConfig.from_dict(raw)


def test_a_damaged_cache_entry_is_made_again(tmp_path):
    from vsrt_cli.training.cache import cached

    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(cached(tmp_path, "photo", "k1", lambda: array), array)
    entry = tmp_path / "photo-k1.npy"
    entry.write_bytes(entry.read_bytes()[:100])  # a disk that filled up mid-write, say
    assert np.array_equal(cached(tmp_path, "photo", "k1", lambda: array), array)


def test_a_run_that_fails_on_its_inputs_leaves_no_run_folder(photo_dir, tmp_path, capsys):
    """Missing data, a bad cache path or a missing validation source: one error and no
    folder holding only config.json, which looks like a run but is none."""
    base = tiny(photo_dir, tmp_path)
    data = base.data
    cache_file = tmp_path / "cache-is-a-file"
    cache_file.write_text("")
    cases = {
        "photos-missing": (dataclasses.replace(base, data=dataclasses.replace(data, photos=str(tmp_path / "nope"))), 2),
        "cache-is-a-file": (dataclasses.replace(base, data=dataclasses.replace(data, cache_dir=str(cache_file))), 2),
        "val-source-missing": (
            dataclasses.replace(
                base,
                data=dataclasses.replace(data, cache_dir=str(tmp_path / "val-cache")),
                validation=ValidationConfig(dir=str(tmp_path / "valset"), source=str(tmp_path / "no-clips"), every_steps=4),
            ),
            1,
        ),
    }
    for name, (config, code) in cases.items():
        config_file = tmp_path / f"{name}.json"
        config_file.write_text(json.dumps(config.to_dict()))
        out = tmp_path / "runs" / name
        with pytest.raises(SystemExit) as exit_info:
            main(["train", str(config_file), "--out", str(out), "--threads", "1"])
        err = capsys.readouterr().err
        assert exit_info.value.code == code, (name, err)
        assert not (tmp_path / "runs").exists(), name
    assert "held-out source videos not found" in err
    # Found before the training data was decoded: nothing went into its cache.
    assert not (tmp_path / "val-cache").exists()


def test_a_run_stopped_while_its_data_is_prepared_leaves_no_run_folder(photo_dir, tmp_path, monkeypatch, capsys):
    from vsrt_cli.errors import Terminated

    def terminated(*args, **kwargs):
        raise Terminated()

    monkeypatch.setattr("vsrt_cli.training.trainer.TrainingData", terminated)
    config_file = tmp_path / "run.json"
    config_file.write_text(json.dumps(tiny(photo_dir, tmp_path).to_dict()))
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(config_file), "--out", str(tmp_path / "runs" / "run"), "--threads", "1"])
    assert exit_info.value.code == 143
    assert not (tmp_path / "runs").exists()


def test_a_run_that_stops_before_its_first_checkpoint_removes_only_what_it_made(photo_dir, tmp_path, monkeypatch):
    from vsrt_cli.errors import VsrtError

    def fail(self, *args):
        raise VsrtError("the loss became nan at step 0")

    monkeypatch.setattr(Trainer, "train_step", fail)
    quiet = {"threads": 1, "log": lambda _: None, "note": lambda _: None}
    config = tiny(photo_dir, tmp_path)
    with pytest.raises(VsrtError):
        Trainer(config, tmp_path / "new" / "run", **quiet).run()
    assert not (tmp_path / "new").exists()
    # A folder that was there before stays, with what was in it.
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(VsrtError):
        Trainer(config, kept, **quiet).run()
    assert leftovers(kept) == ["notes.txt"]
    # And a run that saved weights keeps them, whatever happens after.
    monkeypatch.undo()
    take_step = Trainer.train_step

    def fail_after_a_save(self, *args):
        if self.step == 2:
            self.save()
            raise VsrtError("the loss became nan at step 2")
        return take_step(self, *args)

    monkeypatch.setattr(Trainer, "train_step", fail_after_a_save)
    with pytest.raises(VsrtError):
        Trainer(config, tmp_path / "saved", **quiet).run()
    assert leftovers(tmp_path / "saved") == ["config.json", "ema.safetensors", "last.pt"]


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())
