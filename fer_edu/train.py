"""The training engine: whole splits in memory, batched augmentation, bf16 on CPUs that have it.

One call, :func:`train`, trains one configuration at one seed under the evaluation protocol:
train on Training, choose the epoch on PublicTest, evaluate PrivateTest once with the chosen
weights. It checkpoints every epoch (atomically) and resumes from the last checkpoint, with the
same result as an uninterrupted run: every source of randomness is re-seeded from (seed, epoch)
at the start of each epoch.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import Augment, FERData, augment, drop_random_training, drop_test_duplicates, normalize, split_tensors
from .evaluation import evaluate, predict
from .leak import paper_protocol_epoch
from .losses import FocalLoss, build_loss, dynamic_alpha
from .metrics import encode_probabilities
from .models import build_model, count_parameters

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("constant", "onecycle", "cosine")


def is_plain_sgd(optimizer: str, momentum: float) -> bool:
    """SGD without momentum: one-cycle must not cycle a momentum it does not have."""
    return optimizer == "sgd" and momentum == 0


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run's result (the device aside)."""

    architecture: str = "vgg11_lstm_attention"
    width: float = 1.0
    epochs: int = 30
    batch_size: int = 32
    optimizer: str = "adamw"
    lr: float = 1e-4
    weight_decay: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    schedule: str = "constant"
    # One-cycle also cycles the momentum (SGD) or Adam's beta1 between 0.95 and 0.85, against the
    # learning rate (Smith & Topin 2019; PyTorch's default). Plain SGD has no momentum to cycle: cycling
    # would give it one, so a plain-SGD config must turn this off (checked below).
    cycle_momentum: bool = True
    loss: str = "ce"
    focal_gamma: float = 2.0
    focal_alpha: float | tuple[float, ...] | None = None
    dynamic_alpha: bool = False
    sampling: str = "uniform"
    augment: Augment = field(default_factory=Augment)
    label_smoothing: float = 0.0
    tta_flip: bool = False
    # Leak studies (the beyond group): train without the Training images duplicated in a test split, or
    # (its control) without as many random other Training images, drawn from the run's seed;
    # record the paper's leaky per-epoch test accuracy beside the honest run (fer_edu.leak).
    drop_test_duplicates: bool = False
    drop_random_training: bool = False
    measure_leak: bool = False
    # Beyond the paper: mixup (Zhang et al. 2018) with Beta(mixup, mixup) weights, 0 = off; an
    # exponential moving average of the weights (decay per step, 0 = off), evaluated and kept instead.
    mixup: float = 0.0
    ema_decay: float = 0.0
    # Distillation (Hinton et al. 2015): soft targets from the first `distill_members` seeds of the
    # experiment `distill_from` (an ensemble), weight `distill_weight` beside the true labels.
    distill_from: str = ""
    distill_members: int = 0
    distill_weight: float = 0.0
    distill_temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; expected one of {SCHEDULES}")
        if self.sampling not in ("uniform", "balanced"):
            raise ValueError(f"unknown sampling {self.sampling!r}; expected 'uniform' or 'balanced'")
        if self.schedule == "onecycle" and self.cycle_momentum and is_plain_sgd(self.optimizer, self.momentum):
            raise ValueError("plain SGD (momentum 0) under one-cycle: cycling the momentum would give it 0.85-0.95; "
                             "set cycle_momentum=False (or a momentum)")
        if self.dynamic_alpha and self.loss != "focal":
            raise ValueError("dynamic_alpha needs loss='focal'")
        if bool(self.distill_from) != (self.distill_weight > 0) or (self.distill_from and self.distill_members < 1):
            raise ValueError("distillation needs distill_from, distill_members >= 1 and distill_weight > 0 together")
        if not 0 <= self.distill_weight <= 1 or self.distill_temperature <= 0:
            raise ValueError("0 <= distill_weight <= 1 and distill_temperature > 0 are required")
        if self.mixup < 0 or not 0 <= self.ema_decay < 1:
            raise ValueError("mixup >= 0 and 0 <= ema_decay < 1 are required")
        if self.epochs < 1 or self.batch_size < 2 or self.lr <= 0:
            raise ValueError("epochs >= 1, batch_size >= 2 and lr > 0 are required")
        if self.drop_test_duplicates and self.drop_random_training:
            raise ValueError("drop_test_duplicates and drop_random_training are alternatives: the second is "
                             "the first's control")

    def to_dict(self) -> dict:
        """JSON-ready (tuples as lists), so a dict read back from a results file compares equal."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["augment"] = Augment(**{**d.get("augment", {}), "scale": tuple(d.get("augment", {}).get("scale", (1, 1)))})
        if isinstance(d.get("focal_alpha"), list):
            d["focal_alpha"] = tuple(d["focal_alpha"])
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# --------------------------------------------------------------------------- device and precision


# Widest first: the first of these a CPU's flags name is the one that sets its matrix speed.
CPU_ISAS = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2"))


def cpu_isa(cpuinfo: str | None = None) -> str:
    """The widest vector instruction set the CPU offers ("AMX", "AVX2", ...), "" when unknown.

    Virtual machines often name their CPU only as "AMD EPYC" or the like; this tells two such apart."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return ""
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return next((label for flag, label in CPU_ISAS if flag in flags), "")


def native_bf16_cpu() -> bool:
    """True when the CPU computes bfloat16 natively (AMX or AVX512-BF16), where bf16 autocast pays."""
    return cpu_isa() in ("AMX", "AVX-512 BF16")


@dataclass
class Runtime:
    """Where and how a run computes."""

    device: torch.device
    bf16: bool
    channels_last: bool

    @classmethod
    def auto(cls, device: str | None = None) -> Runtime:
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if dev.type == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)
            torch.set_flush_denormal(True)  # tiny weights and gradients late in training: 5-7 % faster
            return cls(dev, native_bf16_cpu(), True)
        return cls(dev, torch.cuda.is_bf16_supported(), True)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def describe(self) -> dict:
        cpuinfo = ""
        if self.device.type == "cuda":
            name = torch.cuda.get_device_name(self.device)
        else:
            try:
                cpuinfo = Path("/proc/cpuinfo").read_text()  # read once: the model name here, the flags below
            except OSError:
                pass
            name = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                         if line.startswith("model name")), platform.processor() or platform.machine())
        described = {"device_kind": self.device.type, "device": name, "bf16": self.bf16,
                     "threads": torch.get_num_threads(), "cores": os.cpu_count()}
        if self.device.type == "cpu":
            described["isa"] = cpu_isa(cpuinfo)
        return described


# --------------------------------------------------------------------------- pieces of a run


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                           nesterov=cfg.nesterov)


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total, pct_start=0.25,
                                                   cycle_momentum=cfg.cycle_momentum)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    return None


def progress_bar(iterable, **kwargs):
    """tqdm: the notebook widget interactively, plain text when executing for commit or test."""
    if os.environ.get("FER_EDU_TEXT_PROGRESS"):
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(iterable, **kwargs)


def distillation_loss(logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher || student) at a temperature, times T^2 so its gradients keep their size (Hinton et al. 2015)."""
    soft = teacher_probs if temperature == 1 else torch.softmax(teacher_probs.clamp_min(1e-8).log() / temperature, 1)
    student = torch.log_softmax(logits / temperature, 1)
    return nn.functional.kl_div(student, soft, reduction="batchmean") * temperature ** 2


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _cpu_state(model: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- the run


class OverBudget(RuntimeError):
    """A budgeted run that this machine is projected to finish late (raised after an epoch's checkpoint)."""


def projected_seconds(wall_time_s: float, epoch_seconds: list[float], epochs_left: int, eval_seconds: float,
                      tta_flip: bool) -> float:
    """A run's projected wall time: what it has used, its recent epochs' pace, and the final evaluation.

    The final evaluation passes PrivateTest and PublicTest (as large as one PublicTest evaluation
    each) and Training (about eight times PublicTest, without the flip that doubles a test pass).
    """
    final = eval_seconds * (2 + 8 * (0.5 if tta_flip else 1.0))
    return wall_time_s + recent_pace(epoch_seconds) * epochs_left + final


def recent_pace(epoch_seconds: list[float]) -> float:
    """Seconds an epoch, over the last three epochs: the pace a budget projection assumes."""
    return sum(epoch_seconds[-3:]) / len(epoch_seconds[-3:])


def step_seconds(cfg: TrainConfig, images: torch.Tensor, labels: torch.Tensor, rt: Runtime, repeats: int = 4) -> float:
    """The fastest of ``repeats`` forward-backward passes of ``cfg``'s network on one batch (after a
    warm-up), on a throw-away network: less than a training step costs, which also augments, updates
    the weights and evaluates after each epoch."""
    with torch.random.fork_rng(devices=[rt.device] if rt.device.type == "cuda" else []):
        model = build_model(cfg.architecture, cfg.width).to(rt.device).train()
        x = normalize(images.to(rt.device))
        if rt.channels_last:
            model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        times = []
        for i in range(repeats + 1):
            started = time.perf_counter()
            with rt.autocast():
                loss = nn.functional.cross_entropy(model(x).float(), labels.to(rt.device))
            loss.backward()
            if rt.device.type == "cuda":
                torch.cuda.synchronize()
            if i:  # the first pass warms up
                times.append(time.perf_counter() - started)
    return min(times)


def check_pace(cfg: TrainConfig, data: FERData, budget_s: float, checkpoint: str | Path | None = None,
               device: str | None = None) -> float:
    """Before a budgeted run starts or resumes: raise :class:`OverBudget` if even its bare training
    steps (:func:`step_seconds`), added to what a checkpoint has used, exceed ``budget_s``, so that a
    machine too slow for the run spends no epochs on it. Returns that lower bound in seconds.

    ``train`` still checks the real pace from its second epoch; this bound is never above it.
    """
    rt = Runtime.auto(device)
    done, used = 0, 0.0
    if checkpoint and Path(checkpoint).exists():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        done, used = saved["epoch"], saved["wall_time_s"]
    x_train, y_train = split_tensors(data, "Training", "cpu")
    steps = len(y_train) // cfg.batch_size
    if steps < 1 or done >= cfg.epochs:
        return used
    step = step_seconds(cfg, x_train[:cfg.batch_size], y_train[:cfg.batch_size], rt)
    floor = used + step * steps * (cfg.epochs - done)
    if floor > budget_s:
        raise OverBudget(f"its training steps alone take {step * 1000:.0f} ms each, at least {floor / 60:.0f} min "
                         f"for the {cfg.epochs - done} epochs left (of {cfg.epochs}) against a budget of "
                         f"{budget_s / 60:.0f} min: this machine is too slow for this run now, so it was not started")
    return floor


@dataclass
class Learner:
    """What training changes: the network, its loss (a dynamic focal loss moves its alpha), the
    optimizer, the learning-rate schedule and, where the recipe asks, an average of the weights."""

    model: nn.Module
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    ema: torch.optim.swa_utils.AveragedModel | None

    @classmethod
    def build(cls, cfg: TrainConfig, y_train: torch.Tensor, rt: Runtime, steps_per_epoch: int) -> Learner:
        """A fresh network and its training state (seed the global generator first: it draws the weights)."""
        model = build_model(cfg.architecture, cfg.width).to(rt.device)
        if rt.channels_last:
            model = model.to(memory_format=torch.channels_last)
        loss_fn = build_loss(cfg.loss, gamma=cfg.focal_gamma, alpha=cfg.focal_alpha, labels=y_train.cpu(),
                             label_smoothing=cfg.label_smoothing).to(rt.device)
        optimizer = make_optimizer(cfg, model)
        ema = None
        if cfg.ema_decay:
            average = torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema_decay)
            ema = torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=average, use_buffers=True)
        return cls(model, loss_fn, optimizer, make_scheduler(cfg, optimizer, steps_per_epoch), ema)

    @property
    def judged(self) -> nn.Module:
        """The weights evaluated, chosen and kept: the average where there is one."""
        return self.ema.module if self.ema is not None else self.model

    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue exactly (a checkpoint's training part)."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "alpha": self.loss_fn.alpha.cpu() if isinstance(self.loss_fn, FocalLoss) else None,
                "ema": self.ema.state_dict() if self.ema is not None else None}

    def load_state_dict(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(saved["scheduler"])
        if isinstance(self.loss_fn, FocalLoss):
            self.loss_fn.set_alpha(saved["alpha"])
        if self.ema is not None:
            self.ema.load_state_dict(saved["ema"])


@dataclass
class EpochDraws:
    """An epoch's randomness, all seeded from (seed, epoch): a resumed run draws exactly what an
    uninterrupted one does."""

    batches: torch.Tensor  # (steps, batch size) Training indices
    augment: torch.Generator  # the augmentations' draws, on the device
    mixup: np.random.Generator  # mixup's weights and partners


def epoch_draws(cfg: TrainConfig, y_train: torch.Tensor, seed: int, epoch: int, steps_per_epoch: int) -> EpochDraws:
    """Seed ``epoch`` of a run at ``seed``: its batches (shuffled, or drawn class-balanced), its
    augmentation and mixup generators, and the global generator that dropout draws from."""
    key = seed * 100_003 + epoch
    torch.manual_seed(key)
    shuffle = torch.Generator().manual_seed(key)  # on the CPU, whatever the device
    if cfg.sampling == "balanced":  # each class as likely as any other
        weights = (1.0 / torch.bincount(y_train, minlength=7).clamp(min=1).float())[y_train].cpu()
        order = torch.multinomial(weights, len(y_train), replacement=True, generator=shuffle)
    else:
        order = torch.randperm(len(y_train), generator=shuffle)
    batches = order[: steps_per_epoch * cfg.batch_size].to(y_train.device).view(steps_per_epoch, cfg.batch_size)
    return EpochDraws(batches, torch.Generator(device=y_train.device).manual_seed(key), np.random.default_rng(key))


# Printed in chapter 2: within 80 columns, the width of the book's code cells.
def train_one_epoch(learner: Learner, cfg: TrainConfig, rt: Runtime,
                    x_train: torch.Tensor, y_train: torch.Tensor,
                    draws: EpochDraws, teacher: torch.Tensor | None = None,
                    desc: str = "", progress: bool = True,
                    ) -> tuple[float, float]:
    """One pass over ``draws.batches``: augment each batch, forward (in bf16
    where the machine has it), loss, backward, optimizer and schedule step.
    ``teacher``: a distilling run's soft targets. Returns the mean loss and
    accuracy over the images seen, as augmented."""
    model, loss_fn = learner.model.train(), learner.loss_fn
    total_loss = torch.zeros((), device=rt.device)
    total_correct = torch.zeros((), device=rt.device, dtype=torch.long)
    batches = progress_bar(draws.batches, desc=desc, disable=not progress,
                           leave=False, mininterval=1.0)
    for idx in batches:
        xb = augment(x_train[idx], cfg.augment, draws.augment)
        if rt.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        yb = y_train[idx]
        if cfg.mixup:  # blend each image with a partner's, each loss likewise
            lam = float(draws.mixup.beta(cfg.mixup, cfg.mixup))
            perm = torch.from_numpy(draws.mixup.permutation(len(yb)))
            perm = perm.to(rt.device)
            xb = lam * xb + (1 - lam) * xb[perm]
        with rt.autocast():
            logits = model(xb)
        loss = loss_fn(logits.float(), yb)  # the loss in float32
        if cfg.mixup:
            loss = lam * loss + (1 - lam) * loss_fn(logits.float(), yb[perm])
        if teacher is not None:
            target = teacher[idx]
            if cfg.mixup:
                target = lam * target + (1 - lam) * target[perm]
            soft = distillation_loss(logits.float(), target,
                                     cfg.distill_temperature)
            loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * soft
        learner.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        learner.optimizer.step()
        if learner.scheduler is not None:
            learner.scheduler.step()
        if learner.ema is not None:
            learner.ema.update_parameters(model)
        total_loss += loss.detach() * len(yb)
        total_correct += (logits.argmax(1) == yb).sum()
    seen = draws.batches.numel()
    return total_loss.item() / seen, total_correct.item() / seen


def train(cfg: TrainConfig, data: FERData, seed: int = 0, *, checkpoint: str | Path | None = None,
          device: str | None = None, progress: bool = True, stop_after_epochs: int | None = None,
          keep_probabilities: bool = False, teacher: torch.Tensor | None = None,
          budget_s: float | None = None) -> dict:
    """Train ``cfg`` at ``seed`` on ``data``: choose the epoch on PublicTest, report PrivateTest once.

    ``checkpoint`` is a file written after every epoch; when it exists, the run resumes from it.
    ``stop_after_epochs`` stops early (as if killed) after that many epochs in total, for tests.
    ``keep_probabilities`` adds the chosen weights' PublicTest and PrivateTest probabilities (ensembles)
    and their Training probabilities (a student's soft targets).
    ``teacher``: a distilling run's soft targets, class probabilities for every Training image of
    ``data`` in order (see :func:`fer_edu.runner.teacher_probabilities`).
    ``budget_s``: a budgeted run's wall-time budget. From its second epoch in this process on, a run
    projected to end over it raises :class:`OverBudget` once that epoch is checkpointed, rather than
    spend an hour on a result its budget rules out.
    Returns one seed's entry of a results file (see ``fer_edu.experiments``).
    """
    rt = Runtime.auto(device)
    if cfg.drop_test_duplicates:
        data = drop_test_duplicates(data)
    elif cfg.drop_random_training:
        data = drop_random_training(data, seed)
    x_train, y_train = split_tensors(data, "Training", rt.device)
    if cfg.distill_from:
        if teacher is None or teacher.shape != (len(y_train), 7):
            raise ValueError(f"distilling from {cfg.distill_from} needs its probabilities for the {len(y_train)} "
                             "Training images")
        teacher = teacher.to(rt.device, torch.float32)
    else:
        teacher = None
    x_public, y_public = split_tensors(data, "PublicTest", rt.device)
    x_private, y_private = split_tensors(data, "PrivateTest", rt.device)
    steps_per_epoch = len(y_train) // cfg.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch size {cfg.batch_size} is larger than the {len(y_train)} training images")

    torch.manual_seed(seed)
    learner = Learner.build(cfg, y_train, rt, steps_per_epoch)
    judged = learner.judged
    state = {"epoch": 0, "history": [], "best_epoch": 0, "best_public": -1.0, "best_state": None,
             "wall_time_s": 0.0}
    ckpt_path = Path(checkpoint) if checkpoint else None
    if ckpt_path and ckpt_path.exists():
        saved = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        # A field added to TrainConfig since the checkpoint was written reads as its default.
        if TrainConfig.from_dict(saved["config"]) != cfg or saved["seed"] != seed:
            raise ValueError(f"{ckpt_path} belongs to another configuration or seed; delete it to start over")
        learner.load_state_dict(saved)
        state = {k: saved[k] for k in state}

    paced: list[float] = []  # this process's epoch times: a resumed run's pace is this machine's
    for epoch in range(state["epoch"], cfg.epochs):
        if stop_after_epochs is not None and epoch >= stop_after_epochs:
            return {"interrupted_after_epoch": epoch}
        started = time.perf_counter()
        draws = epoch_draws(cfg, y_train, seed, epoch, steps_per_epoch)
        train_loss, train_accuracy = train_one_epoch(learner, cfg, rt, x_train, y_train, draws, teacher,
                                                     f"epoch {epoch + 1}/{cfg.epochs}", progress)
        eval_started = time.perf_counter()
        public = evaluate(judged, x_public, y_public, rt, tta_flip=cfg.tta_flip)
        eval_seconds = time.perf_counter() - eval_started
        if cfg.dynamic_alpha:
            learner.loss_fn.set_alpha(dynamic_alpha(public["recall"]))
        record = {"epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_accuracy,
                  "public_loss": public["loss"], "public_accuracy": public["accuracy"],
                  "lr": learner.optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - started}
        if cfg.measure_leak:
            record.update(paper_protocol_epoch(judged, x_public, y_public, x_private, y_private, rt, cfg.tta_flip))
        state["history"].append(record)
        if public["accuracy"] > state["best_public"]:  # ties keep the earlier epoch
            state.update(best_public=public["accuracy"], best_epoch=epoch + 1, best_state=_cpu_state(judged))
        state["epoch"] = epoch + 1
        state["wall_time_s"] += record["seconds"]
        if progress:
            print(f"epoch {epoch + 1:>3}/{cfg.epochs}  train loss {train_loss:.3f} acc {train_accuracy:.1%}  "
                  f"PublicTest loss {public['loss']:.3f} acc {public['accuracy']:.1%}  ({record['seconds']:.0f} s)",
                  flush=True)
        if ckpt_path:
            _atomic_save({**state, "config": cfg.to_dict(), "seed": seed, **learner.state_dict()}, ckpt_path)
        paced.append(record["seconds"])
        if budget_s is not None and len(paced) >= 2 and epoch + 1 < cfg.epochs:
            projected = projected_seconds(state["wall_time_s"], paced, cfg.epochs - epoch - 1, eval_seconds,
                                          cfg.tta_flip)
            if projected > budget_s:
                raise OverBudget(
                    f"projected {projected / 60:.0f} min against a budget of {budget_s / 60:.0f} min "
                    f"({recent_pace(paced):.0f} s an epoch, {cfg.epochs - epoch - 1} of {cfg.epochs} "
                    f"epochs left): this machine is too slow for this run now")

    # The protocol: the epoch chosen on PublicTest; PrivateTest evaluated once, with those weights.
    started = time.perf_counter()
    judged.load_state_dict(state["best_state"])
    private = evaluate(judged, x_private, y_private, rt, tta_flip=cfg.tta_flip, keep_probabilities=keep_probabilities)
    train_eval = evaluate(judged, x_train, y_train, rt)
    public_best = evaluate(judged, x_public, y_public, rt, tta_flip=cfg.tta_flip, keep_probabilities=keep_probabilities)
    state["wall_time_s"] += time.perf_counter() - started
    teacher_part = {}
    if keep_probabilities:
        # A distilling student's soft targets (fer_edu.runner.teacher_probabilities), predicted as the
        # model is evaluated and stored with the results, so that distillation needs no kept weights.
        # They serve the student, not this network: timed apart, outside wall_time_s and its budget.
        started = time.perf_counter()
        teacher_part = {"train_probabilities": encode_probabilities(
            predict(judged, x_train, rt, tta_flip=cfg.tta_flip).numpy()),
            "train_probabilities_seconds": time.perf_counter() - started}
    return {
        "seed": seed,
        "training_images": len(y_train),
        "selected_epoch": state["best_epoch"],
        "public_accuracy": public_best["accuracy"],
        **({"public_probabilities": public_best["probabilities"]} if keep_probabilities else {}),
        **teacher_part,
        "private_accuracy": private["accuracy"],
        "private": private,
        "train_accuracy": train_eval["accuracy"],
        "history": state["history"],
        "wall_time_s": state["wall_time_s"],
        "parameters": count_parameters(judged),
        **rt.describe(),
        "model_state": state["best_state"],
    }
