"""The zoo against REFERENCE.md and against the reference implementations, network by network."""

from __future__ import annotations

import pytest
import torch

import archbench
from archbench.cost import analyze
from archbench.nn import NetOutput

from .conftest import REFERENCE_PARAMS, ZOO, zoo_params
from .reference import REFERENCE_BUILDERS, REFERENCE_INPUT, REFERENCE_STATE_ORDER


def test_zoo_has_every_reference_network():
    assert set(ZOO) >= set(REFERENCE_PARAMS)


@pytest.mark.parametrize("name", zoo_params())
def test_params_equal_reference_analytic_and_built(name: str):
    without, with_aux = REFERENCE_PARAMS[name]
    spec = archbench.load_spec(name)
    report = analyze(spec)
    assert report.params(aux=False) == without
    assert spec.meta_dict["params"] == without
    assert sum(p.numel() for p in archbench.build(spec).parameters()) == without
    if with_aux is not None:
        assert report.params(aux=True) == with_aux
        assert sum(p.numel() for p in archbench.build(spec, aux=True).parameters()) == with_aux


def test_googlenet_paper_aux_heads_match_the_paper_formula():
    """Paper section 5: 5x5/3 avg pool, 1x1 conv 128 (+bias), FC 1024, FC 1000 (no BN)."""
    def head(channels: int) -> int:
        return (channels * 128 + 128) + (128 * 4 * 4 * 1024 + 1024) + (1024 * 1000 + 1000)

    report = analyze(archbench.load_spec("googlenet_paper"))
    assert report.aux_params == head(512) + head(528)  # taps after inception4a and inception4d


@pytest.mark.parametrize("name", zoo_params())
def test_forward_shapes_and_aux_outputs(name: str):
    spec = archbench.load_spec(name)
    torch.manual_seed(0)
    net = archbench.build(spec, aux=True).eval()
    x = torch.randn(2, *spec.input)
    with torch.no_grad():
        out = net(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, spec.classes)
    # block outputs have the shapes the cost model predicts
    report = analyze(spec, batch=2)
    seen = {}
    hooks = [getattr(net, l.name).register_forward_hook(lambda m, i, o, n=l.name: seen.__setitem__(n, tuple(o.shape)))
             for l in report.layers if not l.is_aux]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    assert seen == {l.name: (2, *l.out_shape) for l in report.layers if not l.is_aux}
    if spec.aux_heads:
        net.train()
        out = net(x)
        assert isinstance(out, NetOutput)
        assert out.logits.shape == (2, spec.classes)
        assert sorted(out.aux_logits) == sorted(h.name for h in spec.aux_heads)
        assert all(v.shape == (2, spec.classes) for v in out.aux_logits.values())
        # without aux heads built, training mode returns plain logits
        plain = archbench.build(spec, aux=False).train()
        assert isinstance(plain(x), torch.Tensor)


REFERENCE_CASES = [(n, aux) for n in ZOO for aux in (False, True)
                   if (f"{n}_aux" if aux else n) in REFERENCE_BUILDERS]


@pytest.mark.parametrize("name,aux", [pytest.param(n, a, id=f"{n}{'-aux' if a else ''}") for n, a in REFERENCE_CASES])
def test_matches_reference_implementation_block_by_block(name: str, aux: bool):
    """Params, fvcore FLOPs per operator, and per-block output shapes and FLOPs."""
    from .reference.compare import compare

    result = compare(name, aux)
    assert result.ok, "\n".join(result.mismatches)


@pytest.mark.parametrize("name", [pytest.param(n, id=n, marks=p.marks) for p in zoo_params() for n in p.values
                                  if n in REFERENCE_BUILDERS])
def test_same_weights_give_the_same_outputs_as_the_reference(name: str):
    """The strongest check: load the reference's weights (and random BN statistics) into our
    network in parameter order and compare logits. FLOPs and shapes cannot see a max pool where
    an average pool belongs, count_include_pad, BN eps, a residual scale or a missing ReLU; this can."""
    torch.manual_seed(0)
    theirs = REFERENCE_BUILDERS[name]().eval()
    ours = archbench.build(name).eval()
    with torch.no_grad():
        for m in theirs.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.1)
                m.bias.normal_(0, 0.1)
    state = theirs.state_dict()
    keys = REFERENCE_STATE_ORDER.get(name, list)(list(state))  # the same tensors in our registration order
    ref_state = [state[k] for k in keys if not k.endswith("num_batches_tracked")]
    our_keys = [k for k in ours.state_dict() if not k.endswith("num_batches_tracked")]
    assert len(ref_state) == len(our_keys)
    assert [tuple(v.shape) for v in ref_state] == [tuple(ours.state_dict()[k].shape) for k in our_keys]
    ours.load_state_dict(dict(zip(our_keys, ref_state)), strict=False)
    x = torch.randn(1, *REFERENCE_INPUT[name])
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * b.abs().max().item())
