"""Memory: parameter bytes, activation bytes, and peak memory of inference and of a training step.

On CUDA the peaks are measured: ``torch.cuda.max_memory_allocated`` after resetting the peak.

On CPU they are estimated by replaying the same work on the *meta* device (shapes and dtypes,
no data, no compute) under a ``TorchDispatchMode`` that sees every tensor an op allocates and,
through a weak-reference finalizer, when it is freed. Bytes are counted per storage: views and
aliases (``detach``, ``t()`` of a weight, a saved ReLU output) allocate nothing, as on a real
allocator. The peak of the live bytes, plus the
parameters and buffers that exist throughout, is what a caching allocator would have to hold at
least. Autograd's saved-for-backward tensors stay alive because autograd holds them, so the
training peak includes them without special casing; gradients and the optimizer's momentum
buffers are allocated by the backward and step that run under the same mode (the loss sums the
logits and, when aux heads are built, their logits too). What it leaves out:
allocator rounding and fragmentation, cuDNN/oneDNN workspaces, and the CUDA context.
"""

from __future__ import annotations

import weakref
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..nn.layers import split_output


@dataclass
class MemoryReport:
    param_bytes: int
    buffer_bytes: int
    activation_bytes: int  # sum of every block output of one forward pass (fp32)
    inference_peak_bytes: int | None
    training_peak_bytes: int | None
    method: str  # "cuda-measured" or "meta-estimate"
    batch: int
    optimizer: str = "sgd-momentum"
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _LiveBytes(TorchDispatchMode):
    """Tracks bytes of the storages allocated by ops while the mode is active, and their peak.

    Counted per storage, not per tensor: a view or alias an op returns (``detach``, ``t``,
    ``view``, an in-place op's result, autograd saving a ReLU's output) shares its base's
    storage and allocates nothing, and one that aliases a tensor made outside the mode (a
    parameter, the input) is not an allocation either. A storage is freed when the last tensor
    seen on it dies.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._tracked: set[int] = set()
        self._storages: dict[int, list[int]] = {}  # storage key -> [nbytes, tensors alive on it]

    def _free(self, key: int, storage: int) -> None:
        self._tracked.discard(key)
        entry = self._storages[storage]
        entry[1] -= 1
        if entry[1] == 0:
            del self._storages[storage]
            self.live -= entry[0]

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs: set[int] | None = None
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and id(t) not in self._tracked:
                storage = t.untyped_storage()._cdata
                entry = self._storages.get(storage)
                if entry is None:
                    if inputs is None:
                        inputs = {a.untyped_storage()._cdata for a in tree_flatten((args, kwargs))[0]
                                  if isinstance(a, torch.Tensor)}
                    if storage in inputs:  # an alias of a parameter, a buffer or the input
                        continue
                    entry = self._storages[storage] = [t.untyped_storage().nbytes(), 0]
                    self.live += entry[0]
                entry[1] += 1
                key = id(t)
                self._tracked.add(key)
                weakref.finalize(t, self._free, key, storage)
        self.peak = max(self.peak, self.live)
        return out


def _bytes(tensors: Any) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _loss(out: Any) -> torch.Tensor:
    """Sum of the logits, plus each aux head's when the model returns them (training with aux
    heads, as torchvision trains GoogLeNet): every head then gets gradients and momentum.

    The output is read by :func:`archbench.nn.split_output`, as the training loop reads it, so
    archbench's ``NetOutput`` and torchvision's ``GoogLeNetOutputs`` / ``InceptionOutputs``
    are all understood."""
    logits, aux = split_output(out)
    return sum((a.float().sum() for a in aux.values()), logits.float().sum())


def estimate_on_meta(make_model: Callable[[], nn.Module], input_shape: tuple[int, ...], batch: int,
                     lr: float = 0.01) -> tuple[int, int, int, int]:
    """(param bytes, buffer bytes, inference peak, training peak) from a meta-device replay."""
    # Built on the CPU, then moved: initialising weights with meta kernels is ten times slower
    # (torch's meta implementations of random fills run in Python).
    model = make_model().to("meta")
    params = _bytes(model.parameters())
    buffers = _bytes(model.buffers())
    resident = params + buffers
    x = torch.empty(batch, *input_shape, device="meta")

    model.eval()
    with torch.no_grad(), _LiveBytes() as tracker:
        model(x)
    inference = resident + tracker.peak + _bytes([x])

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, foreach=False)
    with _LiveBytes() as tracker:
        loss = _loss(model(x))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        del loss
    training = resident + tracker.peak + _bytes([x])
    return params, buffers, inference, training


def measure_on_cuda(make_model: Callable[[], nn.Module], input_shape: tuple[int, ...], batch: int,
                    device: torch.device, lr: float = 0.01) -> tuple[int, int, int, int]:
    """The same quantities measured with the CUDA caching allocator's peak counter.

    The peaks count what this model and its input add: memory the process already held on the
    device (other models, a cache) is measured before and subtracted, as the estimates leave it out."""
    torch.cuda.synchronize(device)
    already = torch.cuda.memory_allocated(device)
    model = make_model().to(device)
    params = _bytes(model.parameters())
    buffers = _bytes(model.buffers())
    x = torch.randn(batch, *input_shape, device=device)
    torch.cuda.synchronize(device)
    model.eval()
    torch.cuda.reset_peak_memory_stats(device)
    with torch.no_grad():
        model(x)
    torch.cuda.synchronize(device)
    inference = torch.cuda.max_memory_allocated(device) - already
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, foreach=False)
    torch.cuda.reset_peak_memory_stats(device)
    loss = _loss(model(x))
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize(device)
    training = torch.cuda.max_memory_allocated(device) - already
    del model, opt, loss, x
    torch.cuda.empty_cache()
    return params, buffers, inference, training


def memory_report(make_model: Callable[[], nn.Module], input_shape: tuple[int, ...], batch: int,
                  activation_elements: int, device: torch.device) -> MemoryReport:
    """Memory of ``make_model()`` at ``batch``: measured on CUDA, estimated elsewhere."""
    method = "cuda-measured" if device.type == "cuda" else "meta-estimate"
    try:
        if device.type == "cuda":
            params, buffers, inference, training = measure_on_cuda(make_model, input_shape, batch, device)
        else:
            params, buffers, inference, training = estimate_on_meta(make_model, input_shape, batch)
    except Exception as exc:  # OOM at this batch, or an op without a meta kernel
        return MemoryReport(0, 0, activation_elements * 4, None, None, method, batch,
                            error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return MemoryReport(params, buffers, activation_elements * 4, inference, training, method, batch)
