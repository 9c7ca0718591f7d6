"""Datasets for training: image folders, tensor files, CIFAR-10 and a built-in synthetic set.

``load_data(source)`` returns a :class:`Data`: a train and a validation dataset that yield
``(image, label)`` with images as normalised float ``C x H x W`` tensors, the class names and the
input shape a network must accept. What ``source`` may be:

- ``synthetic[:CLASSES[:SIZE[:COUNT]]]`` or with keywords ``synthetic:classes=10,size=32,count=5000``:
  shapes x textures drawn procedurally (see :mod:`archbench.train.synthetic`); nothing on disk.
- a ``.npz`` / ``.pt`` file of tensors (see :func:`load_tensor_file` for the accepted layouts).
- a directory in ImageFolder layout, ``ROOT/<class>/<image>``, or ``ROOT/train/<class>/...`` with
  ``ROOT/val/<class>/...`` (also ``valid``/``validation``); images are decoded lazily.
- ``cifar10`` or ``cifar10:ROOT``: the python version of CIFAR-10 as torchvision extracts it
  (``ROOT/cifar-10-batches-py``), read directly; never downloaded.

Normalisation is per channel, ``(x - mean) / std``: the mean and std are computed from the
training split for in-memory sources (tensor files, CIFAR-10, synthetic) and are ImageNet's
for image folders (computing them would mean decoding every image up front).

Every user mistake (missing path, unknown source, empty class folder, corrupt image, mismatched
tensors, labels out of range) is an :class:`ArchbenchError` naming the file.
"""

from __future__ import annotations

import math
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch.utils.data import Dataset

from ..errors import ArchbenchError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
VAL_DIRS = ("val", "valid", "validation")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_DEFAULT_SIZE = 224  # an image folder's default size: the first image's shorter side, at most this
CIFAR_DIR = "cifar-10-batches-py"


class Batch(NamedTuple):
    """A whole batch fetched at once by an in-memory dataset (see ``__getitems__``)."""

    x: torch.Tensor
    y: torch.Tensor


@dataclass(frozen=True)
class Data:
    """A training set, a validation set, and what a network needs to know to fit them."""

    train: Dataset
    val: Dataset
    classes: list[str]
    input_shape: tuple[int, int, int]  # C, H, W of every image the datasets yield
    source: str = ""
    mean: tuple[float, ...] = field(default=(), repr=False)
    std: tuple[float, ...] = field(default=(), repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> str:
        c, h, w = self.input_shape
        return (f"{self.source}: {len(self.train)} train / {len(self.val)} val images, "  # type: ignore[arg-type]
                f"{c}x{h}x{w}, {self.num_classes} classes")


class ImageTensors(Dataset):
    """Images held in memory as one ``N x C x H x W`` tensor (uint8 or float), normalised on access.

    Keeping uint8 data as uint8 costs 4x less memory than storing it normalised. ``__getitems__``
    lets a DataLoader fetch a whole batch with one indexing operation instead of N.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, mean: Sequence[float], std: Sequence[float]):
        self.x, self.y = x, y
        self._mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __len__(self) -> int:
        return self.x.shape[0]

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        return (x - self._mean) / self._std

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self._normalise(self.x[index]), int(self.y[index])

    def __getitems__(self, indices: list[int]) -> Batch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return Batch(self._normalise(self.x[idx]), self.y[idx])

    def subset(self, indices: torch.Tensor) -> ImageTensors:
        out = ImageTensors.__new__(ImageTensors)
        out.x, out.y, out._mean, out._std = self.x[indices], self.y[indices], self._mean, self._std
        return out


class ImageFiles(Dataset):
    """Image files decoded on access with Pillow: converted to RGB, resized to ``size`` x ``size``."""

    def __init__(self, samples: list[tuple[Path, int]], size: int, mean: Sequence[float], std: Sequence[float]):
        self.samples, self.size = samples, size
        self._mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        x = torch.from_numpy(read_image(path, self.size)).permute(2, 0, 1).float().div_(255.0)
        return (x - self._mean) / self._std, label


def read_image(path: Path, size: int | None) -> Any:
    """``H x W x 3`` uint8 numpy array of an image file; any decoding failure names the file."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            if size is not None and img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8).copy()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # PIL's decoding errors
        raise ArchbenchError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------------------------
# the entry point


def load_data(source: str | os.PathLike, image_size: int | None = None, val_fraction: float = 0.2,
              seed: int = 0, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> Data:
    """Load ``source`` into a train/validation :class:`Data` (see the module docstring).

    ``image_size`` resizes every image to a square of that side (bilinear); by default image
    folders use the shorter side of their first image (at most 224), tensor files and CIFAR-10
    keep their size, and synthetic data is 32x32 (or its ``size`` option). ``val_fraction``
    of the training images is held out (seeded, so every call splits alike) unless the source
    has its own validation set. ``mean``/``std`` override the normalisation statistics.
    """
    text = os.fspath(source)
    if image_size is not None and image_size < 1:
        raise ArchbenchError(f"image size must be a positive number of pixels, got {image_size}")
    if not 0.0 <= val_fraction < 1.0:
        raise ArchbenchError(f"validation fraction must be in [0, 1), got {val_fraction}")
    kind, _, rest = text.partition(":")
    if kind == "synthetic" and not Path(text).exists():
        from .synthetic import parse_options, synthetic_images

        opts = parse_options(rest, image_size)
        x, y = synthetic_images(seed=seed, **opts)
        return _in_memory(x, y, [f"{s}_{t}" for s, t in _synthetic_names(opts["classes"])], None, None,
                          text, val_fraction, seed, mean, std, image_size=None)
    if kind == "cifar10" and not Path(text).exists():
        x, y, xv, yv, classes = _read_cifar10(rest or None)
        return _in_memory(x, y, classes, xv, yv, text, val_fraction, seed, mean, std, image_size)
    path = Path(text)
    if not path.exists():
        raise ArchbenchError(f"{path}: no such file or directory (expected an image folder, a .npz or .pt file, "
                             "'synthetic[:CLASSES]' or 'cifar10[:ROOT]')")
    if path.is_dir():
        return _image_folder(path, image_size, val_fraction, seed, mean, std)
    if path.suffix.lower() in (".npz", ".pt", ".pth"):
        x, y, xv, yv, classes = load_tensor_file(path)
        return _in_memory(x, y, classes, xv, yv, str(path), val_fraction, seed, mean, std, image_size)
    raise ArchbenchError(f"{path}: unknown data format {path.suffix or '(no extension)'!r}; expected an image "
                         "folder, a .npz or .pt file, 'synthetic[:CLASSES]' or 'cifar10[:ROOT]'")


def _synthetic_names(classes: int) -> list[tuple[str, str]]:
    from .synthetic import class_combos

    return class_combos(classes)


def _split(n: int, val_fraction: float, seed: int, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random split into (train, val) indices; both parts non-empty."""
    if val_fraction <= 0:
        raise ArchbenchError(f"{source}: has no validation set of its own; give a validation fraction > 0")
    n_val = round(n * val_fraction)
    if n < 2 or n_val < 1 or n_val >= n:
        raise ArchbenchError(f"{source}: {n} image{'s' * (n != 1)} cannot be split into train and validation "
                             f"sets with fraction {val_fraction}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


# --------------------------------------------------------------------------------------------
# tensors in memory: tensor files, CIFAR-10, synthetic


def _in_memory(x: torch.Tensor, y: torch.Tensor, classes: list[str] | None, x_val: torch.Tensor | None,
               y_val: torch.Tensor | None, source: str, val_fraction: float, seed: int,
               mean: Sequence[float] | None, std: Sequence[float] | None, image_size: int | None) -> Data:
    x = _to_nchw(x, source, "images")
    y = _to_labels(y, x.shape[0], source, "labels")
    if x_val is not None or y_val is not None:
        if x_val is None or y_val is None:
            raise ArchbenchError(f"{source}: a validation set needs both images and labels")
        x_val = _to_nchw(x_val, source, "validation images")
        y_val = _to_labels(y_val, x_val.shape[0], source, "validation labels")
        if x_val.shape[1:] != x.shape[1:]:
            raise ArchbenchError(f"{source}: validation images are {_shape(x_val.shape[1:])}, training images "
                                 f"{_shape(x.shape[1:])}; they must match")
    if x.shape[0] == 0 or (x_val is not None and x_val.shape[0] == 0):
        raise ArchbenchError(f"{source}: contains no {'validation ' if x.shape[0] else ''}images")
    top = int(max(y.max(), y_val.max() if y_val is not None and len(y_val) else 0))
    if classes is None:
        classes = [str(i) for i in range(top + 1)]
    elif top >= len(classes):
        raise ArchbenchError(f"{source}: label {top} is out of range for {len(classes)} classes")
    if image_size is not None:
        x = _resize(x, image_size)
        x_val = _resize(x_val, image_size) if x_val is not None else None
    if x_val is None:
        train_idx, val_idx = _split(x.shape[0], val_fraction, seed, source)
        x, y, x_val, y_val = x[train_idx], y[train_idx], x[val_idx], y[val_idx]
    if mean is None or std is None:
        stats = channel_stats(x)
        mean = stats[0] if mean is None else mean
        std = stats[1] if std is None else std
    _check_stats(mean, std, x.shape[1], source)
    c, h, w = x.shape[1:]
    return Data(train=ImageTensors(x, y, mean, std), val=ImageTensors(x_val, y_val, mean, std),  # type: ignore[arg-type]
                classes=list(classes), input_shape=(c, h, w), source=source, mean=tuple(mean), std=tuple(std))


def _shape(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def _to_nchw(x: Any, source: str, what: str) -> torch.Tensor:
    """``N x C x H x W`` from NCHW, NHWC (channels last, 1-4 of them) or ``N x H x W`` (grey)."""
    x = _as_tensor(x, source, what)
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise ArchbenchError(f"{source}: {what} must be uint8 (0-255) or floating point, found {x.dtype}")
    if x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim == 4:
        if x.shape[1] > 4 and x.shape[3] <= 4:
            x = x.permute(0, 3, 1, 2)
        elif x.shape[1] > 4:
            raise ArchbenchError(f"{source}: {what} have shape {_shape(x.shape)}; cannot tell the channels "
                                 "(expected NxCxHxW or NxHxWxC with 1-4 channels)")
    else:
        raise ArchbenchError(f"{source}: {what} have {x.ndim} dimensions ({_shape(x.shape)}); expected 4 "
                             "(NxCxHxW or NxHxWxC) or 3 (NxHxW, greyscale)")
    if x.is_floating_point() and x.dtype != torch.float32:
        x = x.float()
    if x.is_floating_point():  # one NaN pixel turns every loss after it into NaN
        bad = sum(int((~torch.isfinite(x[i:i + 4096])).sum()) for i in range(0, x.shape[0], 4096))
        if bad:
            raise ArchbenchError(f"{source}: {what} contain {bad:,} NaN or infinite values; clean the data first")
    return x.contiguous()


def _to_labels(y: Any, n: int, source: str, what: str) -> torch.Tensor:
    y = _as_tensor(y, source, what)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ArchbenchError(f"{source}: {what} have shape {_shape(y.shape)}; expected one integer per image")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ArchbenchError(f"{source}: {what} must be integers (class indices), found {y.dtype}")
    if y.shape[0] != n:
        raise ArchbenchError(f"{source}: {n} images but {y.shape[0]} {what}; they must have the same length")
    if n and int(y.min()) < 0:
        raise ArchbenchError(f"{source}: label {int(y.min())} is out of range (labels are class indices from 0)")
    return y.long()


def _as_tensor(value: Any, source: str, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        import numpy as np

        return torch.from_numpy(np.ascontiguousarray(value))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ArchbenchError(f"{source}: {what} are not a numeric array ({exc})") from None


def _resize(x: torch.Tensor, size: int, chunk: int = 1024) -> torch.Tensor:
    """Bilinear (antialiased) resize to ``size`` x ``size``, in chunks; uint8 stays uint8."""
    import torch.nn.functional as F

    if tuple(x.shape[2:]) == (size, size):
        return x
    parts = []
    for start in range(0, x.shape[0], chunk):
        part = F.interpolate(x[start:start + chunk].float(), size=(size, size), mode="bilinear",
                             align_corners=False, antialias=True)
        parts.append(part.round_().clamp_(0, 255).to(torch.uint8) if x.dtype == torch.uint8 else part)
    return torch.cat(parts)


def channel_stats(x: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of ``N x C x H x W`` images (in [0, 1] for uint8), in float64."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, x.shape[0], chunk):
        part = x[start:start + chunk].double()
        if x.dtype == torch.uint8:
            part /= 255.0
        total += part.sum((0, 2, 3))
        squares += part.square().sum((0, 2, 3))
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt().clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())


def _check_stats(mean: Sequence[float], std: Sequence[float], channels: int, source: str) -> None:
    if len(mean) != channels or len(std) != channels:
        raise ArchbenchError(f"{source}: mean/std need {channels} values (one per channel), got "
                             f"{len(mean)} and {len(std)}")
    if not all(math.isfinite(v) for v in (*mean, *std)):
        raise ArchbenchError(f"{source}: mean/std must be finite numbers, got {tuple(mean)} and {tuple(std)}")
    if min(std) <= 0:
        raise ArchbenchError(f"{source}: std values must be positive, got {tuple(std)}")


def load_tensor_file(path: Path) -> tuple[Any, Any, Any, Any, list[str] | None]:
    """Images and labels from a ``.npz`` or ``.pt`` file.

    Accepted: a ``.npz`` archive, or a ``.pt`` file (loaded with ``weights_only=True``) holding a
    dict, with the images under ``x`` or ``images`` and the labels under ``y`` or ``labels``;
    a ``.pt`` file may instead hold a tuple/list ``(x, y)``. Optional: ``x_val``/``y_val`` (or
    ``val_images``/``val_labels``), an explicit validation set used instead of a split; and
    ``classes``, the class names. Images are ``N x C x H x W``, ``N x H x W x C`` (1-4 channels)
    or ``N x H x W``, uint8 (0-255) or float (any range: normalisation uses the data's own
    statistics); labels are integers ``0..K-1``, one per image.
    """
    if path.suffix.lower() == ".npz":
        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as archive:
                content: Any = {key: archive[key] for key in archive.files}
        except Exception as exc:  # zipfile.BadZipFile, ValueError (object arrays), OSError
            raise ArchbenchError(f"{path}: cannot read .npz file ({type(exc).__name__}: {exc})") from None
    else:
        try:
            content = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle errors, unsupported globals, truncated files
            raise ArchbenchError(f"{path}: cannot read .pt file ({type(exc).__name__}: {str(exc).splitlines()[0]})"
                                 ) from None
    if isinstance(content, (tuple, list)):
        if len(content) != 2:
            raise ArchbenchError(f"{path}: a .pt tuple must be (images, labels), found {len(content)} items")
        return content[0], content[1], None, None, None
    if not isinstance(content, dict):
        raise ArchbenchError(f"{path}: expected a dict with 'x' and 'y' (or 'images' and 'labels') or an "
                             f"(x, y) tuple, found {type(content).__name__}")

    def pick(*keys: str) -> Any:
        return next((content[k] for k in keys if k in content), None)

    x, y = pick("x", "images"), pick("y", "labels")
    if x is None or y is None:
        raise ArchbenchError(f"{path}: expected arrays 'x' and 'y' (or 'images' and 'labels'), found "
                             + (", ".join(map(repr, content)) or "nothing"))
    names = pick("classes")
    classes = [str(c) for c in list(names)] if names is not None else None
    return x, y, pick("x_val", "val_images"), pick("y_val", "val_labels"), classes


def _read_cifar10(root: str | None) -> tuple[Any, Any, Any, Any, list[str]]:
    """CIFAR-10's python pickles (what torchvision's ``CIFAR10`` reads); test batch = validation."""
    import numpy as np

    base = Path(root or os.environ.get("ARCHBENCH_DATA", "data")).expanduser()
    candidates = [base / CIFAR_DIR, base]
    folder = next((c for c in candidates if (c / "data_batch_1").is_file()), None)
    if folder is None:
        raise ArchbenchError(f"cifar10: no CIFAR-10 data in {' or '.join(map(str, candidates))} (looked for "
                             f"data_batch_1..5 and test_batch). Nothing is downloaded at run time: extract "
                             f"cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html there, "
                             f"or give cifar10:ROOT")

    def batch(name: str) -> tuple[Any, Any]:
        file = folder / name
        try:
            with open(file, "rb") as f:
                d = pickle.load(f, encoding="bytes")
            data = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            return data, np.asarray(d[b"labels"], dtype=np.int64)
        except (OSError, pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as exc:
            raise ArchbenchError(f"{file}: not a CIFAR-10 batch ({type(exc).__name__}: {exc})") from None

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    xv, yv = batch("test_batch")
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    try:
        with open(folder / "batches.meta", "rb") as f:
            classes = [n.decode() for n in pickle.load(f, encoding="bytes")[b"label_names"]]
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, AttributeError):
        pass  # the names are the standard ones
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), xv, yv, classes)


# --------------------------------------------------------------------------------------------
# image folders


def _class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                  and not p.name.startswith("."))


def _scan(root: Path, classes: list[str] | None = None) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names and (path, label) samples of an ImageFolder root; checks the structure eagerly."""
    folders = _class_folders(root)
    if not folders:
        loose = _images_in(root)
        hint = " (found images directly in it: put them in one sub-folder per class)" if loose else ""
        raise ArchbenchError(f"{root}: no class folders; expected ROOT/<class>/<image> (ImageFolder layout){hint}")
    names = [f.name for f in folders]
    if classes is None:
        classes = names
    else:
        unknown = [n for n in names if n not in classes]
        if unknown:
            raise ArchbenchError(f"{root}: class folder{'s' * (len(unknown) > 1)} {', '.join(unknown)} not in the "
                                 f"training classes ({', '.join(classes)})")
    samples: list[tuple[Path, int]] = []
    for folder in folders:
        images = _images_in(folder)
        if not images:
            raise ArchbenchError(f"{folder}: empty class folder (no {', '.join(IMAGE_EXTENSIONS)} files)")
        label = classes.index(folder.name)
        samples.extend((p, label) for p in images)
    return classes, samples


def _default_size(path: Path) -> int:
    """The shorter side of an image, read from its header (no decoding), capped at 224."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return min(min(img.size), MAX_DEFAULT_SIZE)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ArchbenchError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None


def _image_folder(root: Path, image_size: int | None, val_fraction: float, seed: int,
                  mean: Sequence[float] | None, std: Sequence[float] | None) -> Data:
    train_root = root / "train"
    val_root = next((root / d for d in VAL_DIRS if (root / d).is_dir()), None)
    if train_root.is_dir():
        classes, samples = _scan(train_root)
        val_samples = _scan(val_root, classes)[1] if val_root is not None else None
    else:
        classes, samples = _scan(root)
        val_samples = None
    if val_samples is None:
        train_idx, val_idx = _split(len(samples), val_fraction, seed, str(root))
        val_samples = [samples[i] for i in val_idx.tolist()]
        samples = [samples[i] for i in train_idx.tolist()]
    size = image_size or _default_size(samples[0][0])
    mean = tuple(mean) if mean is not None else IMAGENET_MEAN
    std = tuple(std) if std is not None else IMAGENET_STD
    _check_stats(mean, std, 3, str(root))
    return Data(train=ImageFiles(samples, size, mean, std), val=ImageFiles(val_samples, size, mean, std),
                classes=classes, input_shape=(3, size, size), source=str(root), mean=mean, std=std)
