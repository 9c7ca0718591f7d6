"""A second, independent counter: torch's own ``FlopCounterMode`` agrees with the analytic model.

fvcore traces through TorchScript, which torch deprecates; ``torch.utils.flop_counter`` counts at
the dispatcher instead (here on the meta device: shapes only, no arithmetic). It counts a
multiply-add as two FLOPs and counts only matrix ops (convolution, addmm), so its total halved
must equal the analytic model's conv + linear FLOPs, operator by operator, for every zoo network.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import archbench

from .conftest import ZOO


WITH_AUX = [n for n in ZOO if archbench.load_spec(n).aux_heads]
CASES = [pytest.param(n, False, id=n) for n in ZOO] + [pytest.param(n, True, id=f"{n}-train-with-aux") for n in WITH_AUX]


@pytest.mark.parametrize("name,aux", CASES)
def test_torch_flop_counter_agrees_with_the_analytic_model(name: str, aux: bool):
    spec = archbench.load_spec(name)
    model = archbench.build(spec, aux=aux).to("meta").train(aux)  # aux heads run in training mode only
    x = torch.empty(2, *spec.input, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    counted = {str(op): flops // 2 for op, flops in counter.get_flop_counts()["Global"].items()}
    expected = archbench.analyze(spec, batch=2).flops_by_op(aux=aux)
    assert counted == {"aten.convolution": expected["conv"], "aten.addmm": expected["linear"]}
