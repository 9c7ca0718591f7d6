"""Fit a network to a dataset: the zoo's ImageNet specs get the data's classes and image shape.

The adapted spec is a *derivation* of the original (``base:`` plus ``classes`` and ``input``
overrides, as a user would write it), so every check of the grammar runs again. The base
document is the original's canonical form with its classifiers rewritten to ``linear:
classes``: the last ``linear`` of the head and of each aux head is the classifier, whether the
YAML said ``classes`` or a number. The expected ``meta`` numbers (ImageNet params) are dropped,
since they no longer hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ArchbenchError, ShapeError, TargetError
from ..spec import Spec, load_spec, to_dict
from ..spec.derive import derive
from ..spec.parse import parse_spec
from .data import Data
from .stem import choose_stem, small_stem_doc, stem_info

SIZES_TO_TRY = (32, 48, 64, 75, 96, 112, 128, 160, 192, 224, 256, 299, 320, 384, 448, 512)


def adapt_spec(target: str | Path | Spec, data: Data | None = None, *, classes: int | None = None,
               input_shape: tuple[int, int, int] | None = None, aux: bool = True, stem: str = "auto") -> Spec:
    """``target`` with its classifier(s) sized for ``data.num_classes`` and input ``data.input_shape``.

    ``classes`` / ``input_shape`` may be given instead of (or to override) ``data``;
    ``aux=False`` drops the aux heads (for networks whose heads do not fit small images).
    ``stem``: ``small`` replaces the ImageNet stem with a 3x3 stride-1 conv, as CIFAR versions
    of these networks do; ``imagenet`` keeps it; ``auto`` picks by image size (the rule and
    its justification: :mod:`archbench.train.stem`). Raises
    :class:`ShapeError` saying which image sizes would work when the network collapses
    spatially at this size (e.g. a 299-pixel network on 32x32 images).
    """
    from ..cost import analyze

    spec = load_spec(target)
    classes = classes if classes is not None else (data.num_classes if data is not None else spec.classes)
    shape = input_shape if input_shape is not None else (data.input_shape if data is not None else spec.input)
    base = _classifier_doc(spec)
    chosen, info = choose_stem(stem, spec, base, min(shape[1:]))
    if chosen == "small":
        base = small_stem_doc(base, info)
    if not aux:
        base.pop("aux_heads", None)
    override = {"base": spec.name, "classes": classes, "input": "x".join(map(str, shape))}
    small = ", small-image stem" if chosen == "small" else ""
    source = f"{spec.source} (adapted to {override['input']}, {classes} classes{small})"

    def load_raw(name: str, relative_to: str) -> tuple[Any, str]:
        return base, spec.source

    adapted = parse_spec(derive(override, source, load_raw), source)
    try:
        report = analyze(adapted)
    except ShapeError as exc:
        raise ShapeError(_collapse_message(spec, base, shape, classes, exc, chosen)) from None
    if report.output_shape != (classes,):
        raise ShapeError(f"{spec.name}: its output is {'x'.join(map(str, report.output_shape))}, not one logit per "
                         f"class ({classes}); the last linear layer of the head must be the classifier")
    return adapted


def _classifier_doc(spec: Spec) -> dict:
    doc = to_dict(spec)
    doc.pop("meta", None)
    for layers in (doc.get("head") or [], *[h["layers"] for h in doc.get("aux_heads") or []]):
        linears = [op for op in layers if "linear" in op]
        if linears:
            linears[-1]["linear"] = "classes"
    return doc


def _collapse_message(spec: Spec, base: dict, shape: tuple[int, int, int], classes: int, exc: Exception,
                      stem: str) -> str:
    """The shape error, plus the smallest image size at which the network (and its aux heads) fit."""
    from ..cost import analyze

    def fits(h: int, w: int, aux: bool) -> bool:
        doc = {**base, "input": f"{shape[0]}x{h}x{w}", "classes": classes}
        if not aux:
            doc.pop("aux_heads", None)
        try:
            analyze(parse_spec(doc, spec.source))
            return True
        except ArchbenchError:
            return False

    size = f"{shape[1]}x{shape[2]}"
    has_aux = bool(base.get("aux_heads"))
    if has_aux and fits(shape[1], shape[2], aux=False):
        return (f"{spec.name} cannot run its aux heads on {shape[0]}x{size} images ({exc}). Train without them "
                "(--no-aux, or build with aux=False) or use a larger --image-size.")
    smallest = {aux: next((s for s in SIZES_TO_TRY if s > min(shape[1:]) and fits(s, s, aux)), None)
                for aux in ((True, False) if has_aux else (True,))}
    if smallest[True] is None and smallest.get(False) is None:
        hint = f" No image size up to {SIZES_TO_TRY[-1]} works; check the spec."
    elif has_aux and smallest[True] != smallest[False]:
        hint = (f" It needs larger images: try --image-size {smallest[False]} without aux heads (--no-aux)"
                + (f", or {smallest[True]} with them." if smallest[True] else "."))
    else:
        hint = f" It needs larger images: try --image-size {smallest[True]}."
    if stem == "imagenet" and stem_info(spec, base).length:
        hint += " Or keep the resolution with the small-image stem (--stem small)."
    return f"{spec.name} cannot run on {shape[0]}x{size} images: the network collapses spatially ({exc}).{hint}"


def model_for_data(target: Any, data: Data, aux: bool = True, seed: int | None = None,
                   stem: str = "auto") -> tuple[Any, Spec | None]:
    """An ``nn.Module`` for ``data``, and the adapted spec it was built from (None for Python models).

    ``target`` is anything :func:`archbench.targets.resolve_target` accepts, or a resolved
    ``Target`` or ``Spec``. A ``module:callable`` model cannot be adapted: it is accepted only if
    it maps one of the data's images to one logit per class.

    ``seed``: draw the initial weights from ``torch.manual_seed(seed)`` inside a forked RNG, so
    the same seed gives the same weights whatever ran before (a search's earlier trials, the
    data loading) and the caller's global RNG is left as it was. ``None`` draws them from the
    global RNG, as building any torch module does.

    ``stem``: ``auto``, ``imagenet`` or ``small`` (see :func:`adapt_spec`).
    """
    if seed is None:
        return _model_for_data(target, data, aux, stem)
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return _model_for_data(target, data, aux, stem)


def _model_for_data(target: Any, data: Data, aux: bool, stem: str) -> tuple[Any, Spec | None]:
    from ..nn import build
    from ..targets import Target, resolve_target

    if isinstance(target, (str, Path)):
        target = resolve_target(str(target))
    if isinstance(target, Target) and target.spec is None:
        model = target.build()
        check_output(model, data, target.label)
        return model, None
    spec = adapt_spec(target.spec if isinstance(target, Target) else target, data, aux=aux, stem=stem)
    return build(spec, aux=bool(spec.aux_heads)), spec


def check_output(model: Any, data: Data, label: str) -> None:
    """Raise :class:`TargetError` unless ``model`` maps one image to ``data.num_classes`` logits."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, *data.input_shape))
    except Exception as exc:  # user code: any failure is reported, not a traceback
        raise TargetError(f"{label}: fails on one {'x'.join(map(str, data.input_shape))} image from "
                          f"{data.source}: {type(exc).__name__}: {exc}") from None
    finally:
        model.train(was_training)
    logits = out[0] if isinstance(out, tuple) else out
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (1, data.num_classes):
        got = "x".join(map(str, logits.shape)) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise TargetError(f"{label}: a module:callable model cannot be adapted to the data; it must output "
                          f"{data.num_classes} logits per image ({data.source} has {data.num_classes} classes), "
                          f"but gives {got}. Use a spec, or make the callable build the right classifier.")
