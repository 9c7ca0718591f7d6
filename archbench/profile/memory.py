"""Memory: parameter bytes, activation bytes, and peak memory of inference and of a training step.

On CUDA the peaks are measured: ``torch.cuda.max_memory_allocated`` after resetting the peak.

On CPU they are estimated by replaying the same work on the *meta* device (shapes and dtypes,
no data, no compute) under a ``TorchDispatchMode`` that sees every tensor an op allocates and,
through a weak-reference finalizer, when it is freed. The peak of the live bytes, plus the
parameters and buffers that exist throughout, is what a caching allocator would have to hold at
least. Autograd's saved-for-backward tensors stay alive because autograd holds them, so the
training peak includes them without special casing; gradients and the optimizer's momentum
buffers are allocated by the backward and step that run under the same mode. What it leaves out:
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
    """Tracks bytes of tensors allocated by ops while the mode is active, and their peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._tracked: set[int] = set()

    def _free(self, key: int, nbytes: int) -> None:
        self._tracked.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and not t._is_view() and id(t) not in self._tracked:
                nbytes = t.untyped_storage().nbytes()
                key = id(t)
                self._tracked.add(key)
                self.live += nbytes
                weakref.finalize(t, self._free, key, nbytes)
        self.peak = max(self.peak, self.live)
        return out


def _bytes(tensors: Any) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _loss(out: Any) -> torch.Tensor:
    logits = out[0] if isinstance(out, tuple) else out
    return logits.float().sum()


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
    """The same quantities measured with the CUDA caching allocator's peak counter."""
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
    inference = torch.cuda.max_memory_allocated(device)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, foreach=False)
    torch.cuda.reset_peak_memory_stats(device)
    loss = _loss(model(x))
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize(device)
    training = torch.cuda.max_memory_allocated(device)
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
