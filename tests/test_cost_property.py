"""Property test: the analytic cost model equals fvcore on the built module, for random specs.

Fresh seeds every run (printed on failure, so a failing draw can be replayed with
ARCHBENCH_SEED=<seed>); at least 200 specs per run, as issue 4 asks.
"""

from __future__ import annotations

import os
import random

import pytest
import torch

import archbench
from archbench.cost import analyze
from archbench.profile.counting import count

from .random_specs import random_spec

SPECS_PER_RUN = 200
SEED = int(os.environ.get("ARCHBENCH_SEED", random.SystemRandom().randrange(2**32)))


def test_analytic_costs_equal_fvcore_on_random_specs():
    rng = random.Random(SEED)
    failures = []
    for i in range(SPECS_PER_RUN):
        text = random_spec(rng, i)
        spec = archbench.loads(text, f"random{i}")
        report = analyze(spec)
        model = archbench.build(spec, aux=True).eval()
        names = [layer.name for layer in report.layers if not layer.is_aux]
        traced = count(model, torch.randn(1, *spec.input), names)
        built_params = sum(p.numel() for p in model.parameters())
        got = (report.flops_by_op(), report.flops, report.activations, report.params(aux=True), report.output_shape)
        want = (traced.total.flops_by_op, traced.total.flops, traced.total.activations, built_params,
                tuple(traced.output_shapes[names[-1]][1:]))
        if got != want:
            failures.append(f"spec {i}:\n{text}\nanalytic {got}\nfvcore   {want}")
        for name in names:
            if report.layer(name).flops_by_op != traced.modules[name].flops_by_op:
                failures.append(f"spec {i} block {name}: {report.layer(name).flops_by_op} vs {traced.modules[name].flops_by_op}")
    assert not failures, f"seed {SEED}: {len(failures)} disagreements\n" + "\n".join(failures[:3])
