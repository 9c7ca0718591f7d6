"""Training: data sources and their errors, spec adaptation, the loop (learning, aux loss,
determinism, resume) and `archbench train`. Tiny networks on tiny data: seconds on 2 CPU cores."""

from __future__ import annotations

import math
import pickle
import shlex
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

import archbench
from archbench.cli.app import app
from archbench.errors import ArchbenchError, ShapeError, TargetError
from archbench.nn import NetOutput, split_output
from archbench.train import (Data, EpochMetrics, TrainConfig, TrainingInterrupted, adapt_spec, evaluate, fit,
                             load_checkpoint, load_data, model_for_data)
from archbench.train.loop import lr_factor
from archbench.train.synthetic import class_combos, synthetic_images

from .models_for_tests import GoogLeNetOutputs, InceptionOutputs

runner = CliRunner()

# A couple of convs, a tiny Inception block, global pool, linear: classes; one aux head.
TINY = """\
name: tiny_inception
input: 3x32x32
classes: 10
defaults: {norm: bn, act: relu}
body:
  - {conv: 16, kernel: 3, name: stem}
  - {maxpool: 2, stride: 2, name: pool1}
  - block: mixed
    branches:
      - [{conv: 8, kernel: 1}]
      - [{conv: 8, kernel: 1}, {conv: 16, kernel: 3}]
      - [{maxpool: 3, stride: 1, padding: 1}, {conv: 8, kernel: 1}]
  - {maxpool: 2, stride: 2, name: pool2}
  - {conv: 48, kernel: 3, name: conv2}
head:
  - {global_pool: avg, name: avgpool}
  - {linear: classes, name: fc}
aux_heads:
  - name: aux
    at: mixed
    layers:
      - {global_pool: avg}
      - {linear: classes}
"""
FAST = dict(batch_size=32, lr=0.1, device="cpu")  # sgd; converges in a few epochs on 4 synthetic classes
TIMING = ("images_per_s", "seconds")


def results(history: list[EpochMetrics]) -> list[dict]:
    """Metrics without the wall-clock fields (which never repeat)."""
    return [{k: v for k, v in asdict(m).items() if k not in TIMING} for m in history]


@pytest.fixture(scope="module")
def tiny_spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def synth4() -> Data:
    return load_data("synthetic:4:32:2000", seed=0)


def tiny_model(spec: Path, data: Data, aux: bool = True, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return archbench.build(adapt_spec(spec, data), aux=aux)


# --------------------------------------------------------------------------------- the loop


def test_tiny_network_learns_synthetic_data_well_above_chance(tiny_spec, synth4):
    result = fit(tiny_model(tiny_spec, synth4), synth4, TrainConfig(epochs=4, **FAST))
    chance = 1 / synth4.num_classes
    assert result.final.val_top1 > 2 * chance, results(result.history)
    assert result.final.val_loss < math.log(synth4.num_classes)  # better than a uniform guess
    assert result.best_top1 == max(m.val_top1 for m in result.history)
    assert [m.epoch for m in result.history] == [1, 2, 3, 4] and result.images_per_s > 0
    assert result.final.val_top5 == 1.0  # top-k with k = min(5, 4 classes)


def test_aux_heads_add_their_weighted_loss(tiny_spec, synth4):
    def run(aux_weight: float) -> tuple[float, nn.Module]:
        model = tiny_model(tiny_spec, synth4)
        before = [p.detach().clone() for p in model.aux.parameters()]
        cfg = TrainConfig(epochs=1, max_steps=3, weight_decay=0.0, aux_weight=aux_weight, **FAST)
        loss = fit(model, synth4, cfg).final.train_loss
        moved = any(not torch.equal(b, p) for b, p in zip(before, model.aux.parameters()))
        return loss, moved

    loss0, moved0 = run(0.0)
    loss3, moved3 = run(0.3)
    assert not moved0 and moved3  # the aux head learns only through its loss term
    assert loss3 > loss0  # the objective includes 0.3 x the aux head's cross-entropy


def test_same_seed_same_metrics_and_caller_rng_untouched(tiny_spec, synth4):
    cfg = TrainConfig(epochs=2, max_steps=6, seed=3, **FAST)
    model = tiny_model(tiny_spec, synth4)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = fit(model, synth4, cfg)
    assert torch.equal(torch.rand(3), expected_next)  # fit forks the global RNG
    b = fit(tiny_model(tiny_spec, synth4), synth4, cfg)
    assert results(a.history) == results(b.history)
    c = fit(tiny_model(tiny_spec, synth4), synth4, TrainConfig(epochs=2, max_steps=6, seed=4, **FAST))
    assert results(a.history) != results(c.history)


def test_resume_after_interrupt_matches_an_uninterrupted_run(tiny_spec, synth4, tmp_path):
    cfg = dict(epochs=3, max_steps=8, schedule="cosine", warmup_epochs=0.5, label_smoothing=0.1, **FAST)
    whole_model = tiny_model(tiny_spec, synth4)
    whole = fit(whole_model, synth4, TrainConfig(out_dir=str(tmp_path / "whole"), **cfg))

    def ctrl_c_after_2(m: EpochMetrics) -> None:
        if m.epoch == 2:
            raise KeyboardInterrupt

    out = tmp_path / "interrupted"
    with pytest.raises(TrainingInterrupted) as info:
        fit(tiny_model(tiny_spec, synth4), synth4, TrainConfig(out_dir=str(out), **cfg), on_epoch=ctrl_c_after_2)
    assert isinstance(info.value, KeyboardInterrupt)
    assert info.value.epoch == 2 and info.value.checkpoint == out / "last.pt"
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    resumed_model = tiny_model(tiny_spec, synth4, seed=99)  # fresh weights: all state comes from last.pt
    resumed = fit(resumed_model, synth4, TrainConfig(out_dir=str(out), **cfg), resume=True)
    assert results(resumed.history) == results(whole.history)
    for (name, a), b in zip(whole_model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss,train_top1,val_loss,val_top1,val_top5,lr") and len(rows) == 4
    assert {p.name for p in out.iterdir()} == {"last.pt", "best.pt", "metrics.csv"}


def test_resume_errors(tiny_spec, synth4, tmp_path):
    with pytest.raises(ArchbenchError, match="no checkpoint to resume"):
        fit(tiny_model(tiny_spec, synth4), synth4, TrainConfig(epochs=1, out_dir=str(tmp_path), **FAST), resume=True)
    with pytest.raises(ArchbenchError, match="output directory"):
        fit(tiny_model(tiny_spec, synth4), synth4, TrainConfig(epochs=1, **FAST), resume=True)


RESUME_BASE = dict(epochs=1, max_steps=2, **FAST)


@pytest.fixture(scope="module")
def one_epoch_run(tiny_spec, synth4, tmp_path_factory) -> Path:
    """A folder holding last.pt after one short epoch with RESUME_BASE (never modified by the tests)."""
    out = tmp_path_factory.mktemp("resume")
    fit(tiny_model(tiny_spec, synth4), synth4, TrainConfig(out_dir=str(out), **RESUME_BASE))
    return out


@pytest.mark.parametrize("changes, expected", [
    ({"batch_size": 16}, ["batch_size: 32 -> 16"]),
    ({"lr": 0.2, "label_smoothing": 0.1}, ["lr: 0.1 -> 0.2", "label_smoothing: 0.0 -> 0.1"]),
    ({"max_steps": 3, "seed": 1, "schedule": "step"}, ["max_steps: 2 -> 3", "seed: 0 -> 1", "schedule: 'cosine' -> 'step'"]),
    ({"warmup_epochs": 0.5, "aux_weight": 0.0}, ["warmup_epochs: 0.0 -> 0.5", "aux_weight: 0.3 -> 0.0"]),
    ({"optimizer": "adamw"}, ["optimizer: 'sgd' -> 'adamw'", "weight_decay: 0.0005 -> 0.05"]),
], ids=["batch", "lr-smoothing", "steps-seed-schedule", "warmup-aux", "optimizer"])
def test_resume_refuses_changed_options_listing_each(tiny_spec, synth4, one_epoch_run, tmp_path, changes, expected):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes((one_epoch_run / "last.pt").read_bytes())
    config = TrainConfig(out_dir=str(out), **{**RESUME_BASE, "epochs": 2, **changes})
    with pytest.raises(ArchbenchError) as info:
        fit(tiny_model(tiny_spec, synth4), synth4, config, resume=True)
    message = str(info.value)
    for line in expected:
        assert f"  {line}\n" in message, message
    assert message.count(" -> ") == len(expected) and "start over without resume" in message
    assert {p.name for p in out.iterdir()} == {"last.pt"}  # refused before anything was written


def test_resume_refuses_another_split_of_the_data(tiny_spec, synth4, one_epoch_run, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes((one_epoch_run / "last.pt").read_bytes())
    other_split = load_data("synthetic:4:32:2000", val_fraction=0.3, seed=0)
    with pytest.raises(ArchbenchError, match="data train images: 1600 -> 1400") as info:
        fit(tiny_model(tiny_spec, other_split), other_split, TrainConfig(out_dir=str(out), **RESUME_BASE), resume=True)
    assert "data val images: 400 -> 600" in str(info.value)


def test_resume_allows_more_epochs_and_machine_options(tiny_spec, synth4, one_epoch_run, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes((one_epoch_run / "last.pt").read_bytes())
    same_run = dict(RESUME_BASE, epochs=2, num_workers=0, amp=False, channels_last=False, val_batch_size=50)
    result = fit(tiny_model(tiny_spec, synth4), synth4, TrainConfig(out_dir=str(out), **same_run), resume=True)
    assert [m.epoch for m in result.history] == [1, 2]
    # an explicit value equal to the default is the same option
    implicit = tmp_path / "implicit"
    fit(tiny_model(tiny_spec, synth4), synth4, TrainConfig(epochs=1, max_steps=1, batch_size=32, device="cpu",
                                                           out_dir=str(implicit)))
    explicit = TrainConfig(epochs=2, max_steps=1, batch_size=32, device="cpu", lr=0.05, weight_decay=5e-4,
                           out_dir=str(implicit))
    assert fit(tiny_model(tiny_spec, synth4), synth4, explicit, resume=True).final.epoch == 2


def test_on_epoch_exceptions_propagate(tiny_spec, synth4):
    class Pruned(Exception):
        pass

    seen = []

    def prune(m: EpochMetrics) -> None:
        seen.append(m.val_top1)
        raise Pruned

    with pytest.raises(Pruned):
        fit(tiny_model(tiny_spec, synth4), synth4, TrainConfig(epochs=3, max_steps=2, **FAST), on_epoch=prune)
    assert len(seen) == 1


def test_evaluate_counts_top1_top5_and_loss():
    logits = torch.tensor([[3.0, 1, 0, 0, 0, 0, 0], [0.0, 1, 2, 3, 4, 5, 6], [0.0, 9, 1, 2, 3, 4, 5]])
    y = torch.tensor([0, 0, 4])
    loss, top1, top5 = evaluate(nn.Identity(), [(logits, y)], device="cpu")
    expected = nn.functional.cross_entropy(logits, y).item()
    assert loss == pytest.approx(expected) and top1 == pytest.approx(1 / 3) and top5 == pytest.approx(2 / 3)
    _, _, top3 = evaluate(nn.Identity(), [(logits[:, :3], torch.tensor([2, 0, 0]))], device="cpu")
    assert top3 == 1.0  # k = min(5, classes)




_L, _A, _B = torch.zeros(2, 3), torch.ones(2, 3), torch.full((2, 3), 2.0)


@pytest.mark.parametrize("out, aux", [
    (_L, {}),
    (NetOutput(_L, {"aux1": _A, "aux2": _B}), {"aux1": _A, "aux2": _B}),
    (GoogLeNetOutputs(_L, _A, _B), {"aux_logits2": _A, "aux_logits1": _B}),
    (GoogLeNetOutputs(_L, None, None), {}),
    (InceptionOutputs(_L, _A), {"aux_logits": _A}),
    (InceptionOutputs(_L, None), {}),
    ((_L, _A, _B), {"aux1": _A, "aux2": _B}),
    ([_L, None, _B], {"aux2": _B}),
    ((_L, {"head": _A}), {"head": _A}),
], ids=["tensor", "netoutput", "googlenet", "googlenet-eval", "inception", "inception-no-aux", "tuple", "list",
        "dict-aux"])
def test_split_output_reads_every_output_form(out, aux):
    logits, got = split_output(out)
    assert logits is _L and got.keys() == aux.keys() and all(got[k] is aux[k] for k in aux)


@pytest.mark.parametrize("out, fragment", [
    ("logits", "returned str"), ((), "returned tuple"), ((None, _A), "returned tuple"),
    ((_L, "aux"), "'aux1' is a str"), ({"logits": _L}, "returned dict"),
], ids=["str", "empty", "no-logits", "bad-aux", "dict"])
def test_split_output_rejects_other_outputs(out, fragment):
    with pytest.raises(ArchbenchError, match=fragment):
        split_output(out)


def test_model_for_data_seed_fixes_the_weights_and_spares_the_caller_rng(tiny_spec, synth4):
    def weights(seed: int | None) -> list[torch.Tensor]:
        return [p.detach().clone() for p in model_for_data(tiny_spec, synth4, seed=seed)[0].parameters()]

    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = weights(7)
    assert torch.equal(torch.rand(3), expected_next)  # the global RNG is untouched
    torch.rand(100)  # a different global state: no effect on seeded weights
    b = weights(7)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, weights(8)))
    torch.manual_seed(5)
    c = weights(None)  # unseeded: drawn from the global RNG, as before
    torch.manual_seed(5)
    assert all(torch.equal(x, y) for x, y in zip(c, weights(None)))


def test_lr_schedules():
    assert lr_factor("cosine", 0, 100, 0) == 1.0 and lr_factor("cosine", 50, 100, 0) == pytest.approx(0.5)
    assert lr_factor("cosine", 99, 100, 0) < 0.001
    assert [lr_factor("step", s, 100, 0) for s in (0, 49, 50, 75)] == pytest.approx([1, 1, 0.1, 0.01])
    assert [lr_factor("none", s, 100, 10) for s in (0, 4, 9, 50)] == pytest.approx([0.1, 0.5, 1, 1])


@pytest.mark.parametrize("kwargs, fragment", [
    ({"optimizer": "adam"}, "sgd or adamw"), ({"schedule": "linear"}, "cosine"), ({"epochs": 0}, "positive"),
    ({"lr": -1.0}, "positive"), ({"label_smoothing": 1.0}, "[0, 1)"),
    ({"warmup_epochs": math.nan}, "warmup_epochs: expected a number >= 0, got nan"),
    ({"warmup_epochs": math.inf}, "warmup_epochs"), ({"label_smoothing": math.nan}, "label_smoothing"),
    ({"lr": math.inf}, "lr: expected a positive number"), ({"momentum": math.nan}, "momentum"),
    ({"max_steps": 2.5}, "max_steps: expected a positive integer or None, got 2.5"),
    ({"epochs": True}, "epochs: expected a positive integer, got True"), ({"batch_size": 8.0}, "batch_size"),
    ({"max_val_steps": True}, "max_val_steps"), ({"val_batch_size": 1.5}, "val_batch_size"),
    ({"num_workers": False}, "num_workers"), ({"seed": 1.5}, "seed"), ({"seed": True}, "seed"),
    ({"aux_weight": True}, "aux_weight"), ({"amp": 1}, "amp"),
], ids=["optimizer", "schedule", "epochs", "lr", "smoothing", "warmup-nan", "warmup-inf", "smoothing-nan", "lr-inf",
        "momentum-nan", "max-steps-float", "epochs-bool", "batch-float", "val-steps-bool", "val-batch-float",
        "workers-bool", "seed-float", "seed-bool", "aux-weight-bool", "amp-int"])
def test_config_rejects_bad_values(kwargs, fragment):
    with pytest.raises(ArchbenchError, match=fragment.replace("[", r"\[").replace(")", r"\)")):
        TrainConfig(**kwargs)


# --------------------------------------------------------------------------------- data


def test_synthetic_is_deterministic_balanced_and_fast():
    import time

    t0 = time.perf_counter()
    x, y = synthetic_images(classes=10, size=32, count=5000, seed=1)
    assert time.perf_counter() - t0 < 5  # ~0.15 s on one core; generous for a loaded machine
    assert x.shape == (5000, 3, 32, 32) and x.dtype == torch.uint8 and torch.bincount(y).tolist() == [500] * 10
    x2, y2 = synthetic_images(classes=10, size=32, count=5000, seed=1)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(synthetic_images(classes=10, size=32, count=50, seed=2)[0], x[:50])
    combos = class_combos(30)
    assert len(set(combos)) == 30  # every (shape, texture) pair once


@pytest.mark.parametrize("source, shape, classes, total", [
    ("synthetic:6:24:600", (3, 24, 24), 6, 600),
    ("synthetic:classes=3,size=16,count=90,noise=0", (3, 16, 16), 3, 90),
    ("synthetic:5:count=100", (3, 32, 32), 5, 100),
], ids=["positional", "keywords", "mixed"])
def test_synthetic_options(source, shape, classes, total):
    data = load_data(source, val_fraction=0.25)
    assert data.input_shape == shape and data.num_classes == classes
    assert len(data.train) + len(data.val) == total and len(data.val) == round(total * 0.25)
    x, label = data.train[0]
    assert x.shape == shape and x.dtype == torch.float32 and 0 <= label < classes
    assert load_data(source, image_size=20).input_shape == (3, 20, 20)


def write_png(path: Path, size: tuple[int, int] = (16, 16), mode: str = "RGB", value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value,) * len(mode)).save(path)


def test_image_folder_split_lazily_decoded(tmp_path):
    for i in range(4):
        write_png(tmp_path / "cats" / f"{i}.png", (20, 16), "RGB", 40 * i)
        write_png(tmp_path / "dogs" / f"{i}.png", (16, 16), "L", 200)  # greyscale -> RGB
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")  # ignored
    data = load_data(tmp_path, val_fraction=0.25)
    assert data.classes == ["cats", "dogs"] and data.input_shape == (3, 16, 16)  # first image's shorter side
    assert len(data.train) == 6 and len(data.val) == 2
    x, label = data.val[0]
    assert x.shape == (3, 16, 16) and label in (0, 1)
    assert load_data(tmp_path, image_size=8).train[0][0].shape == (3, 8, 8)


def test_image_folder_train_val_layout_trains(tmp_path, tiny_spec):
    for split, n in (("train", 6), ("val", 2)):
        for cls, value in (("a", 30), ("b", 220)):
            for i in range(n):
                write_png(tmp_path / split / cls / f"{i}.png", (16, 16), "RGB", value)
    data = load_data(tmp_path, val_fraction=0.5)  # ignored: val/ is the validation set
    assert len(data.train) == 12 and len(data.val) == 4 and data.classes == ["a", "b"]
    model = archbench.build(adapt_spec(tiny_spec, data))
    result = fit(model, data, TrainConfig(epochs=1, batch_size=4, num_workers=0, device="cpu"))
    assert result.final.steps == 3 and 0 <= result.final.val_top1 <= 1


def test_tensor_files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 12, 12, 3), dtype=np.uint8)  # NHWC
    y = np.arange(20) % 4
    np.savez(tmp_path / "a.npz", x=x, y=y)
    data = load_data(tmp_path / "a.npz")
    assert data.input_shape == (3, 12, 12) and data.num_classes == 4 and (len(data.train), len(data.val)) == (16, 4)
    batch = torch.stack([data.train[i][0] for i in range(len(data.train))])
    assert batch.mean((0, 2, 3)).abs().max() < 1e-4  # normalised with the training split's own statistics

    torch.save({"images": torch.rand(10, 1, 8, 8), "labels": torch.arange(10) % 2,
                "val_images": torch.rand(4, 1, 8, 8), "val_labels": torch.tensor([0, 1, 1, 0])}, tmp_path / "b.pt")
    data = load_data(tmp_path / "b.pt")
    assert data.input_shape == (1, 8, 8) and (len(data.train), len(data.val)) == (10, 4)

    torch.save((torch.rand(10, 9, 9), torch.arange(10) % 5), tmp_path / "c.pt")  # (x, y) tuple, N x H x W
    data = load_data(tmp_path / "c.pt", image_size=6)
    assert data.input_shape == (1, 6, 6) and data.num_classes == 5

    np.savez(tmp_path / "d.npz", images=x, labels=y, classes=np.array(["w", "x", "y", "z"]))
    assert load_data(tmp_path / "d.npz").classes == ["w", "x", "y", "z"]


def test_cifar10_reader(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": np.zeros((4, 3072), np.uint8) + 7, b"labels": [0, 1, 2, 9]}, f)
    data = load_data(f"cifar10:{tmp_path}")
    assert (len(data.train), len(data.val)) == (20, 4) and data.input_shape == (3, 32, 32)
    assert data.classes[0] == "airplane" and data.num_classes == 10
    with pytest.raises(ArchbenchError, match="no CIFAR-10 data .* Nothing is downloaded"):
        load_data(f"cifar10:{tmp_path / 'nowhere'}")


def _corrupt_folder(root: Path) -> str:
    write_png(root / "a" / "0.png")
    write_png(root / "a" / "1.png")
    write_png(root / "b" / "0.png")
    (root / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    return str(root)


BAD_DATA = {
    "missing path": (lambda p: str(p / "nope"), "no such file or directory"),
    "unknown format": (lambda p: (p / "data.csv").write_text("1,2") and str(p / "data.csv"), "unknown data format"),
    "unknown synthetic option": (lambda p: "synthetic:colours=3", "unknown option 'colours'"),
    "no classes": (lambda p: (p / "empty").mkdir() or str(p / "empty"), "no class folders"),
    "empty class folder": (lambda p: (write_png(p / "r" / "a" / "0.png"), (p / "r" / "b").mkdir(), str(p / "r"))[2],
                           "b: empty class folder"),
    "lengths differ": (lambda p: np.savez(p / "d.npz", x=np.zeros((5, 3, 4, 4)), y=np.zeros(4, int)) or str(p / "d.npz"),
                       "5 images but 4 labels"),
    "bad ndim": (lambda p: np.savez(p / "d.npz", x=np.zeros((5, 48)), y=np.zeros(5, int)) or str(p / "d.npz"),
                 "2 dimensions"),
    "float labels": (lambda p: np.savez(p / "d.npz", x=np.zeros((5, 3, 4, 4)), y=np.zeros(5)) or str(p / "d.npz"),
                     "must be integers"),
    "label out of range": (lambda p: np.savez(p / "d.npz", x=np.zeros((2, 3, 4, 4)), y=np.array([0, 3]),
                                              classes=np.array(["a", "b"])) or str(p / "d.npz"), "label 3 is out of range"),
    "missing keys": (lambda p: np.savez(p / "d.npz", pixels=np.zeros((2, 3, 4, 4))) or str(p / "d.npz"), "found 'pixels'"),
    "not a pt file": (lambda p: (p / "d.pt").write_bytes(b"garbage") and str(p / "d.pt"), "cannot read .pt file"),
}


@pytest.mark.parametrize("make, fragment", list(BAD_DATA.values()), ids=list(BAD_DATA))
def test_bad_data_is_one_clear_error(tmp_path, make, fragment):
    source = make(tmp_path)
    with pytest.raises(ArchbenchError) as info:
        load_data(source)
    assert fragment in str(info.value)
    if source.startswith(str(tmp_path)):
        assert Path(source).name in str(info.value)  # names the file
    result = runner.invoke(app, ["train", "lenet5", "--data", source, "--epochs", "1"], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert fragment in " ".join(result.output.split()) and "Traceback" not in result.output


def test_corrupt_image_is_reported_with_its_path_when_met(tmp_path, tiny_spec):
    root = _corrupt_folder(tmp_path)
    data = load_data(root, val_fraction=0.25)  # the structure is fine; decoding is lazy
    met = 0
    for dataset in (data.train, data.val):
        for i, (path, _) in enumerate(dataset.samples):
            if path.name == "broken.png":
                with pytest.raises(ArchbenchError, match="broken.png: cannot read image"):
                    dataset[i]
                met += 1
    assert met == 1
    result = runner.invoke(app, ["train", str(tiny_spec), "--data", root, "--val-fraction", "0.25", "--epochs", "1",
                                 "--batch-size", "1", "--workers", "0", "--out", str(tmp_path / "o")],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "broken.png: cannot read image" in " ".join(result.output.split()) and "Traceback" not in result.output


# --------------------------------------------------------------------------------- adaptation


def test_adapt_spec_sets_classes_and_input_by_derivation(synth4):
    spec = adapt_spec("googlenet", synth4)
    assert spec.classes == 4 and spec.input == (3, 32, 32) and spec.meta == ()
    report = archbench.analyze(spec)
    assert report.output_shape == (4,)
    assert [layer.out_shape for layer in report.layers if layer.is_aux] == [(4,), (4,)]
    assert adapt_spec(TINY_LITERAL_SPEC(), classes=3, input_shape=(1, 40, 40)).input == (1, 40, 40)
    assert archbench.analyze(adapt_spec(TINY_LITERAL_SPEC(), classes=3)).output_shape == (3,)


def TINY_LITERAL_SPEC():  # a spec whose classifier states its width as a number, not `classes`
    return archbench.loads(TINY.replace("{linear: classes, name: fc}", "{linear: 10, name: fc}"))


def test_adapt_spec_collapse_suggests_an_image_size():
    with pytest.raises(ShapeError) as info:
        adapt_spec("inception_v3", classes=10, input_shape=(3, 32, 32), stem="imagenet")
    message = str(info.value)
    assert "collapses spatially" in message and "--image-size 75" in message and "--no-aux" in message
    assert "--stem small" in message
    result = runner.invoke(app, ["train", "alexnet", "--data", "synthetic:4:32:40", "--epochs", "1", "--stem", "imagenet"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "--image-size 64" in result.output and "Traceback" not in result.output


def test_callable_targets_must_already_fit_the_classes(synth4, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    ten = load_data("synthetic:10:32:60")
    model, spec = model_for_data("tests.models_for_tests:tiny_net", ten)  # outputs 10 logits
    assert spec is None and isinstance(model, nn.Module)
    with pytest.raises(TargetError, match="must output 4 logits per image"):
        model_for_data("tests.models_for_tests:tiny_net", synth4)


# --------------------------------------------------------------------------------- the command


def test_cli_trains_writes_files_and_resumes(tiny_spec, tmp_path):
    out = tmp_path / "run"
    args = ["train", str(tiny_spec), "--data", "synthetic:4:32:400", "--batch-size", "32", "--max-steps", "4",
            "--device", "cpu", "--out", str(out)]
    result = runner.invoke(app, [*args, "--epochs", "2"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert {"metrics.csv", "last.pt", "best.pt", "spec.yaml"} <= {p.name for p in out.iterdir()}
    assert len((out / "metrics.csv").read_text().splitlines()) == 3
    assert "val top-1" in " ".join(result.output.split()) and str(out / "metrics.csv") in result.output
    assert archbench.load_spec(str(out / "spec.yaml")).classes == 4
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 2 and ckpt["classes"] == ["disk_solid", "ring_hstripes", "square_vstripes", "triangle_checker"]
    result = runner.invoke(app, [*args, "--epochs", "3", "--resume"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert len((out / "metrics.csv").read_text().splitlines()) == 4


@pytest.mark.parametrize("resume", [False, True], ids=["first-run", "resumed-run"])
def test_cli_ctrl_c_says_how_to_resume(tiny_spec, tmp_path, monkeypatch, resume):
    import archbench.train

    def interrupted(*_args, **_kwargs):
        raise TrainingInterrupted(3, tmp_path / "last.pt", None)  # type: ignore[arg-type]

    monkeypatch.setattr(archbench.train, "fit", interrupted)
    args = ["train", str(tiny_spec), "--data", "synthetic:4:32:40", "--out", str(tmp_path), "--batch-size", "16",
            "--lr", "0.1", "--warmup", "0.5", *(["--resume"] if resume else [])]
    monkeypatch.setattr(sys, "argv", ["/some/venv/bin/archbench", *args])  # what the shell ran
    if resume:
        (tmp_path / "last.pt").write_bytes(b"")  # only its existence matters before fit
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 130
    text = " ".join(result.output.split())
    assert "after epoch 3" in text and str(tmp_path / "last.pt") in text
    again = shlex.join(["archbench", *args]) + ("" if resume else " --resume")
    assert again in result.output and result.output.count("--resume") == 2  # the message, the command


def test_cli_bad_option_exits_2(tiny_spec):
    result = runner.invoke(app, ["train", str(tiny_spec), "--data", "synthetic:4:32:40", "--optimizer", "adam"])
    assert result.exit_code == 2 and "sgd or adamw" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args, fragment", [
    (["--warmup", "nan"], "warmup_epochs: expected a number >= 0, got nan"),
    (["--lr", "inf"], "lr: expected a positive number, got inf"),
    (["--label-smoothing", "nan"], "label_smoothing"),
    (["--aux-weight", "-inf"], "aux_weight"),
    (["--max-steps", "2.5"], "Invalid value for '--max-steps'"),  # Typer's own integer check: also exit 2
], ids=["warmup-nan", "lr-inf", "smoothing-nan", "aux-weight-inf", "max-steps-float"])
def test_cli_non_finite_or_non_integer_options_exit_2(tiny_spec, args, fragment):
    result = runner.invoke(app, ["train", str(tiny_spec), "--data", "synthetic:4:32:40", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert fragment in " ".join(result.output.split()) and "Traceback" not in result.output


def test_cli_resume_with_changed_options_exits_2_listing_them(tiny_spec, tmp_path):
    args = ["train", str(tiny_spec), "--data", "synthetic:4:32:200", "--max-steps", "2", "--device", "cpu",
            "--out", str(tmp_path)]
    assert runner.invoke(app, [*args, "--epochs", "1"], env={"COLUMNS": "200"}).exit_code == 0
    result = runner.invoke(app, [*args, "--epochs", "2", "--batch-size", "16", "--val-fraction", "0.25", "--resume"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "batch_size: 64 -> 16" in result.output and "data val images: 40 -> 50" in result.output


def test_importing_archbench_and_the_command_stays_torch_free():
    code = "import sys, archbench, archbench.cli.train; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
