"""Cost limits: params, FLOPs and activation memory, checked from the analytic cost model
before a network is built.

Why: ``conv: 1000000`` is a valid grammar value, and the analytic model prices the resulting
9-trillion-parameter network in milliseconds; building it would try to allocate 36 TB. These
limits sit far above any real CNN (the zoo's largest, VGG-19, has 144M params and 20 GFLOPs)
and are raised with the environment variable each message names (see
:mod:`archbench.spec.limits`, which holds the layer and YAML limits and the message format).
"""

from __future__ import annotations

from typing import Any

from ..spec.limits import limit, refuse
from .analysis import analyze

DEFAULT_MAX_PARAMS = 10e9  # 40 GB of fp32 weights
DEFAULT_MAX_FLOPS = 10e12  # multiply-adds per image
DEFAULT_MAX_ACTIVATION_BYTES = 64 * 2**30  # fp32 block outputs of one image, all kept (training)


def check_cost_limits(spec: Any, input_size: tuple[int, int, int] | None = None) -> None:
    """Refuse a spec whose params, FLOPs or activation memory (batch 1, fp32, every block's output
    kept as training keeps it) exceed the limits. Analytic: nothing is built or allocated."""
    report = analyze(spec, input_size)
    params = report.params(aux=True)
    if params > limit("params", DEFAULT_MAX_PARAMS):
        raise refuse("the number of parameters", params, "params", DEFAULT_MAX_PARAMS, spec.source)
    if report.flops > limit("flops", DEFAULT_MAX_FLOPS):
        raise refuse("FLOPs per image", report.flops, "flops", DEFAULT_MAX_FLOPS, spec.source)
    activation = 4 * sum(x.output_elements for x in report.layers)
    if activation > limit("activation_bytes", DEFAULT_MAX_ACTIVATION_BYTES):
        raise refuse("activation memory of one image (bytes)", activation, "activation_bytes",
                     DEFAULT_MAX_ACTIVATION_BYTES, spec.source)
