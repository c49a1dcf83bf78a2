"""The training loop: Charbonnier loss, Adam + warm-up/cosine, EMA weights, resumable runs.

A run lives in one folder (``runs/<name>/`` by default):

* ``last.pt``          full training state (model, EMA, optimiser, step, samples, RNG
                       states, best score, the config it was started with); torch.save,
                       written to a temp file and renamed, every ``checkpoint_minutes`` and
                       at the end (also on SIGTERM/Ctrl-C, after the step in flight).
* ``ema.safetensors``  the EMA weights as a vsrt checkpoint (what gets shipped).
* ``best.safetensors`` the EMA weights with the best validation PSNR-Y so far.
* ``log.jsonl``        one JSON object per log line ("train" and "val" events).
* ``config.json``      the config the run was started with.

Resuming reloads ``last.pt`` and continues at the same step with the same schedule. The
training batches are a pure function of (seed, step) and nothing else in a step draws
random numbers, so a resumed run computes exactly what an uninterrupted one would.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, InputError, Terminated, UsageError, VsrtError
from ..inference.ensemble import ensemble_forward, symmetries
from ..models.spynet import load_basicsr_spynet
from ..models.vsrt import VSRTConfig, VSRTransformer
from ..weights.checkpoint import build_model, describe_config, load_checkpoint, save_checkpoint
from .config import RunConfig, TrainConfig
from .data import TrainingData
from .growth import can_deepen, deepened_state

STATE_FORMAT = "vsrt-training-state"
STATE_VERSION = 1


# -- pieces of the loop ------------------------------------------------------------------


def cpu_has_native_bf16() -> bool:
    """True if the CPU computes bf16 natively (AVX512-BF16 or AMX-BF16)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def charbonnier(output: torch.Tensor, target: torch.Tensor, eps: float) -> torch.Tensor:
    """Mean of sqrt(diff^2 + eps^2): L1 away from zero, smooth at zero."""
    diff = output.float() - target.float()
    return torch.sqrt(diff * diff + eps * eps).mean()


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up from ~0 to ``lr``, then cosine decay to ``min_lr`` at total_steps."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, config.total_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1.0 + math.cos(math.pi * progress))


def load_spynet_weights(model: VSRTransformer, path: Path) -> None:
    """Load a SPyNet file (BasicSR or this project's key layout, bare or under
    ``params``/``state_dict``, with or without a ``spynet.`` prefix) into the model."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"SPyNet weights {path} not found") from None
    except Exception as exc:  # torch raises several types for a bad file
        raise CheckpointError(f"{path}: not a readable weights file ({exc})") from None
    for key in ("params", "state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict")
    state = {k.removeprefix("spynet."): v for k, v in state.items()}
    try:
        mapped = load_basicsr_spynet(state)
        model.spynet.spynet.load_state_dict(mapped, strict=True)
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: does not match SPyNet ({exc})") from None


def read_weights(path: Path, setting: str) -> tuple[VSRTConfig, dict[str, torch.Tensor]]:
    """The config and tensors of a vsrt ``.safetensors`` file, or the EMA weights (the ones a
    run bundles) of a training state (``last.pt``). ``setting`` names the config key in errors."""
    if not path.is_file():
        raise UsageError(f"{setting}: {path} does not exist")
    if path.suffix == ".safetensors":
        config, tensors, _ = load_checkpoint(path)
        return config, tensors
    state = Trainer._read_state(path)
    return VSRTConfig.from_dict(state["config"]["model"]), state["ema"]


def load_teacher(path: Path) -> VSRTransformer:
    """A frozen teacher, built from its own file's config: its flows are its own, whatever
    the student's flow levels or depth."""
    config, tensors = read_weights(path, "train.teacher_weights")
    teacher = build_model(config, tensors, source=f"train.teacher_weights: {path}")
    teacher.requires_grad_(False)
    return teacher.to(memory_format=torch.channels_last)


def same_flows(a: VSRTransformer, b: VSRTransformer) -> bool:
    """Whether two networks' SPyNets compute the same flows (same levels, same tensors)."""
    flow_a, flow_b = a.spynet.spynet, b.spynet.spynet
    if flow_a.levels != flow_b.levels:
        return False
    state_b = flow_b.state_dict()
    return all(torch.equal(value, state_b[key]) for key, value in flow_a.state_dict().items())


def load_initial_weights(model: VSRTransformer, path: Path) -> None:
    """Load a fine-tune's starting point into ``model`` (see :func:`read_weights`). The run's
    model may have more residual blocks per stack; they start as identities (growth.py)."""
    config, tensors = read_weights(path, "train.init_weights")
    if config != model.config:
        if not can_deepen(config, model.config):
            raise UsageError(
                f"train.init_weights: {path} holds a different architecture ({describe_config(config)});"
                f" the run's model is {describe_config(model.config)} (only more residual blocks, or other flow levels, can differ)"
            )
        try:
            tensors = deepened_state(tensors, model.state_dict())
        except ValueError as exc:  # tensors that do not match the config they came with
            raise CheckpointError(f"train.init_weights: {path}: {exc}") from None
    model.load_state_dict(tensors)


class EMA:
    """Exponential moving average of a model's parameters (buffers are copied).

    The decay ramps up as (1 + n) / (10 + n) until it reaches ``decay``, so the average is
    not dominated by the random initial weights for its first few thousand steps.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def decay_at(self, updates: int) -> float:
        return min(self.decay, (1.0 + updates) / (10.0 + updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module, updates: int) -> None:
        d = self.decay_at(updates)
        ema_params = [p for p in self.model.parameters()]
        params = [p.detach() for p in model.parameters()]
        torch._foreach_mul_(ema_params, d)
        torch._foreach_add_(ema_params, params, alpha=1.0 - d)
        for ema_buffer, buffer in zip(self.model.buffers(), model.buffers()):
            ema_buffer.copy_(buffer)


def _match_moment_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give restored per-parameter state its parameter's memory format.

    A state saved from a contiguous model (or loaded by an older vsrt) would otherwise
    keep Adam's element-wise updates on mixed layouts for the rest of the run.
    """
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


# -- the trainer -------------------------------------------------------------------------


class Trainer:
    """One training run in ``out_dir``; ``run()`` trains until total_steps or a limit."""

    def __init__(
        self,
        config: RunConfig,
        out_dir: Path | str,
        *,
        resume: bool = False,
        threads: int | None = None,
        log: Callable[[str], None] | None = None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.log = log or (lambda line: print(line, flush=True))
        self.note = note or (lambda line: print(line, file=sys.stderr, flush=True))
        self.threads = threads or os.cpu_count() or 1
        torch.set_num_threads(self.threads)
        state_path = self.out_dir / "last.pt"
        state = None
        if resume:
            if not state_path.is_file():
                raise UsageError(f"--resume: {state_path} does not exist")
            state = self._read_state(state_path)
            config = self._reconcile(config, state)
        elif state_path.exists():
            raise UsageError(
                f"{self.out_dir} already holds a run (last.pt); pass --resume to continue it or --out for a new one"
            )
        self.config = config
        tc = config.train
        torch.manual_seed(tc.seed)
        self.model = VSRTransformer(config.model)
        if tc.spynet_weights and state is None:
            load_spynet_weights(self.model, Path(tc.spynet_weights))
        if tc.init_weights and state is None:
            load_initial_weights(self.model, Path(tc.init_weights))
            self.note(f"starting from the weights in {tc.init_weights}")
        if not tc.train_flow:
            for p in self.model.spynet.parameters():
                p.requires_grad_(False)
        self.teacher: VSRTransformer | None = None
        if tc.teacher_weights:
            self.teacher = load_teacher(Path(tc.teacher_weights))
        # Channels-last, as for inference: oneDNN's convs take NHWC without reordering, and a
        # vsrt-small step (batch 4) took 0.61-0.65 s instead of 0.90-1.17 in bf16 and 1.6
        # instead of 2.7 in fp32 (2-core AMX Xeon). The EMA copy and Adam's moments follow.
        self.model.to(memory_format=torch.channels_last)
        self.ema = EMA(self.model, tc.ema_decay)
        self.optimizer = torch.optim.Adam(
            self._param_groups(), lr=learning_rate(0, tc), betas=tuple(tc.betas), weight_decay=tc.weight_decay
        )
        self.use_bf16 = tc.bf16 == "on" or (tc.bf16 == "auto" and cpu_has_native_bf16())
        self.step = 0
        self.samples = 0
        self.seconds = 0.0
        self.best: dict[str, Any] | None = None
        self.last_val_step: int | None = None
        if state is not None:
            self._restore(state)
        # The teacher reuses the student's flows only where they are exactly its own.
        self.teacher_shares_flows = (
            self.teacher is not None and not tc.train_flow and same_flows(self.teacher, self.model)
        )
        self.data: TrainingData | None = None
        self._stop_reason: str | None = None
        self._wrote_weights = False

    def _param_groups(self) -> list[dict[str, Any]]:
        """One group, plus SPyNet's own when it trains at a scaled learning rate."""
        flow_ids = {id(p) for p in self.model.spynet.parameters()}
        network = [p for p in self.model.parameters() if p.requires_grad and id(p) not in flow_ids]
        flow = [p for p in self.model.spynet.parameters() if p.requires_grad]
        if not flow or self.config.train.flow_lr_scale == 1.0:
            # In the model's own order, which earlier runs' optimizer states follow.
            return [{"params": [p for p in self.model.parameters() if p.requires_grad]}]
        return [{"params": network}, {"params": flow, "lr_scale": self.config.train.flow_lr_scale}]

    # -- state ---------------------------------------------------------------------------

    @staticmethod
    def _read_state(path: Path) -> dict[str, Any]:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a truncated or foreign file
            raise CheckpointError(f"{path}: cannot read the training state ({exc})") from None
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise CheckpointError(f"{path}: not a vsrt training state")
        if state.get("version") != STATE_VERSION:
            raise CheckpointError(f"{path}: training state version {state.get('version')} is not {STATE_VERSION}")
        return state

    def _reconcile(self, config: RunConfig, state: dict[str, Any]) -> RunConfig:
        """The config to resume with: the saved one, except the settings that cannot change
        the numbers (logging, checkpoint and validation cadence), which the file may update."""
        saved = RunConfig.from_dict(state["config"])
        if saved.model != config.model:
            raise UsageError("--resume: the config's model differs from the run's; start a new run instead")
        cadence = ("log_every", "checkpoint_minutes")
        train = dataclasses.replace(saved.train, **{k: getattr(config.train, k) for k in cadence})
        changed = [
            f.name
            for f in dataclasses.fields(TrainConfig)
            if f.name not in cadence and getattr(saved.train, f.name) != getattr(config.train, f.name)
        ]
        if saved.data != config.data:
            changed.append("data")
        if changed:
            self.note(f"note: resuming with the run's saved settings; the config file's {', '.join(changed)} differ and are ignored")
        return dataclasses.replace(saved, train=train, validation=config.validation)

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.model.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        _match_moment_layouts(self.optimizer)
        self.step = int(state["step"])
        self.samples = int(state["samples"])
        self.seconds = float(state["seconds"])
        self.best = state.get("best")
        self.last_val_step = state.get("last_val_step")
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(_to_python_random_state(state["rng"]["python"]))

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "config": self.config.to_dict(),
            "step": self.step,
            "samples": self.samples,
            "seconds": self.seconds,
            "best": self.best,
            "last_val_step": self.last_val_step,
            "model": self.model.state_dict(),
            "ema": self.ema.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            # The schedule is a function of the step, so the step is its whole state.
            "scheduler": {"kind": "warmup-cosine", "step": self.step},
            # Batches are drawn from (seed, step): there is no sampler state to keep.
            "rng": {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]) + [random.getstate()[0]]},
        }

    def _metadata(self, extra: dict[str, Any] | None = None) -> dict[str, str]:
        meta = {
            "run": self.config.name,
            "training_step": str(self.step),
            "training_samples": str(self.samples),
            "ema_decay": str(self.config.train.ema_decay),
            "training_data": self.data.describe() if self.data is not None else "",
        }
        for key, value in (extra or {}).items():
            meta[key] = str(value)
        return meta

    def save(self) -> None:
        """Write last.pt (atomically) and export the EMA weights as ema.safetensors."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # Set before writing: a folder that may hold any weights of this run is kept.
        self._wrote_weights = True
        target = self.out_dir / "last.pt"
        temporary = target.with_name(".last.pt.partial")
        try:
            torch.save(self.state_dict(), temporary)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        save_checkpoint(self.ema.model, self.out_dir / "ema.safetensors", self._metadata())

    # -- logging -------------------------------------------------------------------------

    def _record(self, entry: dict[str, Any]) -> None:
        with (self.out_dir / "log.jsonl").open("a") as handle:
            handle.write(json.dumps(entry, allow_nan=False) + "\n")

    # -- the loop ------------------------------------------------------------------------

    def load_data(self) -> TrainingData:
        if self.data is None:
            started = time.perf_counter()
            self.data = TrainingData(self.config.data, self.config.model.num_frames, log=self.note)
            self.note(f"data: {self.data.describe()} (ready in {time.perf_counter() - started:.0f} s)")
        return self.data

    def train_step(self, lr_frames: torch.Tensor, gt_frames: torch.Tensor) -> float:
        tc = self.config.train
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.step, tc) * group.get("lr_scale", 1.0)
        self.model.train()
        flows = None
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.use_bf16)
        if not tc.train_flow:
            # Under the same autocast as the network: inference on a bf16 CPU computes its
            # flows in bf16 too, and in fp32 the frozen SPyNet took a quarter of a bf16 step.
            with torch.no_grad(), autocast:
                flows = tuple(flow.float() for flow in self.model.compute_flows(lr_frames))
        with autocast:
            output = self.model(lr_frames, flows=flows)
        loss = charbonnier(output, gt_frames, tc.charbonnier_eps)
        if self.teacher is not None:
            if not self.teacher_shares_flows:
                with torch.no_grad(), autocast:
                    flows = tuple(flow.float() for flow in self.teacher.compute_flows(lr_frames))
            with torch.no_grad(), autocast:
                taught = ensemble_forward(self.teacher, lr_frames, *flows, symmetries(tc.teacher_ensemble))
            loss = loss + tc.teacher_weight * charbonnier(output, taught, tc.charbonnier_eps)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
        self.optimizer.step()
        self.ema.update(self.model, self.step)
        self.step += 1
        self.samples += lr_frames.shape[0]
        return float(loss.detach())

    def _prepare_validation(self) -> bool:
        """Make sure the held-out set exists (building it if needed); False if disabled."""
        vc = self.config.validation
        if not vc.dir or not vc.every_steps:
            return False
        # Imported now rather than at the first validation, so that a long run does not
        # depend on the inference code still importing cleanly hours after it started.
        from .validation import build_validation_set, validation_set_ready

        if not validation_set_ready(vc.dir, vc.frames):
            self._check_validation_source()
            self.note(f"building the validation set in {vc.dir} from {vc.source}")
            build_validation_set(vc.dir, vc.source, vc.frames)
        return True

    def _check_validation_source(self) -> None:
        """If the held-out set has to be built, make sure it can be: in seconds, not after
        the training data has been decoded (minutes on a cold cache)."""
        vc = self.config.validation
        if not vc.dir or not vc.every_steps:
            return
        from .validation import check_sources, validation_set_ready

        if validation_set_ready(vc.dir, vc.frames):
            return
        if not vc.source:
            raise InputError(f"validation set {vc.dir} is missing and no validation.source is configured")
        check_sources(vc.source)

    def validate(self) -> dict[str, Any] | None:
        """Score the EMA weights on the held-out set; keep best.safetensors up to date.

        A failure is logged and training goes on: losing hours of training to a problem in
        the scoring path would be worse than one missing validation point.
        """
        if not self._prepare_validation():
            return None
        from .validation import score_model

        started = time.perf_counter()
        try:
            scores = score_model(self.ema.model, self.config.validation.dir)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            self._record({"event": "val_error", "step": self.step, "error": f"{type(exc).__name__}: {exc}"})
            self.note(f"validation at step {self.step} failed ({type(exc).__name__}: {exc}); training continues")
            return None
        self.last_val_step = self.step
        entry = {
            "event": "val",
            "step": self.step,
            "samples": self.samples,
            "seconds": round(self.seconds, 1),
            "psnr_y": scores["psnr_y"],
            "ssim_y": scores["ssim_y"],
            "bicubic_psnr_y": scores["bicubic_psnr_y"],
            "bicubic_ssim_y": scores["bicubic_ssim_y"],
            "clips": scores["clips"],
            "val_seconds": round(time.perf_counter() - started, 1),
        }
        improved = self.best is None or scores["psnr_y"] > self.best["psnr_y"]
        if improved:
            self.best = {"psnr_y": scores["psnr_y"], "ssim_y": scores["ssim_y"], "step": self.step}
            self._wrote_weights = True
            save_checkpoint(
                self.ema.model,
                self.out_dir / "best.safetensors",
                self._metadata({"val_psnr_y": f"{scores['psnr_y']:.4f}", "val_ssim_y": f"{scores['ssim_y']:.4f}"}),
            )
        entry["best_psnr_y"] = self.best["psnr_y"]
        self._record(entry)
        per_clip = "  ".join(f"{name} {c['psnr_y']:.2f}/{c['bicubic_psnr_y']:.2f}" for name, c in scores["clips"].items())
        self.log(
            f"val step {self.step}: PSNR-Y {scores['psnr_y']:.3f} dB (bicubic {scores['bicubic_psnr_y']:.3f},"
            f" {scores['psnr_y'] - scores['bicubic_psnr_y']:+.3f})  SSIM-Y {scores['ssim_y']:.4f}"
            f" (bicubic {scores['bicubic_ssim_y']:.4f})  [{per_clip}]{'  *best*' if improved else ''}"
            f"  ({entry['val_seconds']:.0f} s)"
        )
        return entry

    def _request_stop(self, signum, frame) -> None:  # noqa: ARG002 - signal handler signature
        if self._stop_reason is not None:
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        self._stop_reason = signal.Signals(signum).name
        self.note(f"{self._stop_reason}: stopping after this step and saving (send again to abort)")

    def run(self, max_steps: int | None = None, max_minutes: float | None = None) -> dict[str, Any]:
        """Train until total_steps, step ``max_steps`` (a global step count) or
        ``max_minutes`` of this call; then save. Returns a summary."""
        # Everything that can fail on a missing or bad input runs before the run folder is
        # made, so that such a failure leaves nothing behind that looks like a run.
        self._check_validation_source()
        data = self.load_data()
        if self._prepare_validation():
            # Loaded up front (see _prepare_validation).
            from ..inference import InferenceOptions  # noqa: F401
            from ..quality import evaluate  # noqa: F401
            from .validation import score_model  # noqa: F401
        # Files first, then folders from the deepest: the order they can be removed in.
        created = [
            path
            for path in (self.out_dir / "log.jsonl", self.out_dir / "config.json", self.out_dir, *self.out_dir.parents)
            if not path.exists()
        ]
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
            return self._train(data, max_steps, max_minutes)
        except BaseException:
            if not self._wrote_weights:
                _remove_created(created)
            raise

    def _train(self, data: TrainingData, max_steps: int | None, max_minutes: float | None) -> dict[str, Any]:
        tc = self.config.train
        end_step = tc.total_steps if max_steps is None else min(tc.total_steps, max_steps)
        self.note(
            f"run {self.config.name}: step {self.step} -> {end_step} of {tc.total_steps}, batch {tc.batch_size},"
            f" {self.threads} threads, {'bf16 autocast' if self.use_bf16 else 'fp32'},"
            f" SPyNet {'trained' if tc.train_flow else 'frozen'}, output {self.out_dir}"
        )
        handlers = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                handlers[sig] = signal.signal(sig, self._request_stop)
            except ValueError:  # not the main thread (e.g. called from a test harness)
                pass
        started = time.perf_counter()
        last_save = started
        window = {"loss": 0.0, "steps": 0, "data": 0.0, "compute": 0.0}
        try:
            while self.step < end_step and self._stop_reason is None:
                if max_minutes is not None and time.perf_counter() - started >= 60.0 * max_minutes:
                    self._stop_reason = "time limit"
                    break
                t0 = time.perf_counter()
                lr_frames, gt_frames = data.batch(tc.seed, self.step, tc.batch_size)
                t1 = time.perf_counter()
                loss = self.train_step(lr_frames, gt_frames)
                t2 = time.perf_counter()
                if not math.isfinite(loss):
                    raise VsrtError(
                        f"the loss became {loss} at step {self.step}, so this state is not saved; the last"
                        " checkpoint is intact (a lower train.lr, or train.grad_clip, usually prevents this)"
                    )
                self.seconds += t2 - t0
                window["loss"] += loss
                window["steps"] += 1
                window["data"] += t1 - t0
                window["compute"] += t2 - t1
                if self.step % tc.log_every == 0 or self.step == end_step:
                    self._log_train(window)
                    window = {"loss": 0.0, "steps": 0, "data": 0.0, "compute": 0.0}
                vc = self.config.validation
                if vc.dir and vc.every_steps and self.step % vc.every_steps == 0:
                    self.validate()
                if time.perf_counter() - last_save >= 60.0 * tc.checkpoint_minutes:
                    self.save()
                    last_save = time.perf_counter()
            if window["steps"]:
                self._log_train(window)
            if self.step >= tc.total_steps and self.config.validation.dir and self.last_val_step != self.step:
                self.validate()
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        self.save()
        reason = self._stop_reason or ("finished" if self.step >= tc.total_steps else "step limit")
        self.note(f"saved {self.out_dir / 'last.pt'} at step {self.step} ({reason})")
        return {"step": self.step, "samples": self.samples, "seconds": self.seconds, "stopped": reason, "best": self.best}

    def _log_train(self, window: dict[str, float]) -> None:
        steps = window["steps"]
        per_step = (window["data"] + window["compute"]) / steps
        entry = {
            "event": "train",
            "step": self.step,
            "loss": window["loss"] / steps,
            "lr": self.optimizer.param_groups[0]["lr"],
            "samples": self.samples,
            "seconds": round(self.seconds, 1),
            "sec_per_step": round(per_step, 3),
            "data_sec_per_step": round(window["data"] / steps, 3),
            "samples_per_sec": round(self.config.train.batch_size / per_step, 3),
        }
        self._record(entry)
        self.log(
            f"step {self.step}/{self.config.train.total_steps}  loss {entry['loss']:.5f}  lr {entry['lr']:.3e}"
            f"  {per_step:.2f} s/step (data {entry['data_sec_per_step']:.2f})  {entry['samples_per_sec']:.2f} samples/s"
            f"  samples {self.samples}  trained {_duration(self.seconds)}"
        )


def _remove_created(paths: list[Path]) -> None:
    """Undo a run that stopped before it wrote any weights: its config.json and log alone
    resume nothing, and the next run into the folder should find it as it was. Folders go
    only when empty, so nothing this run did not make is ever removed."""
    for path in paths:
        try:
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
        except OSError:  # something else is in the folder now: leave it
            pass


def _to_python_random_state(saved: list[int]) -> tuple:
    *internal, version = saved
    return (version, tuple(internal), None)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"
