"""The caches that make pricing search candidates fast change no number and no message.

The parser shares equal ops, the placer hands out the same node for the same op on the same
shape, rewritten convs are interned and the layer limit counts an op once: each candidate of a
search must still get exactly what it gets with every cache empty.
"""

from __future__ import annotations

import copy

import optuna
import pytest

from archbench.cost import analyze, estimate_memory
from archbench.errors import SpecError
from archbench.search.space import _base_doc, load_space
from archbench.spec import dump_yaml, loads
from archbench.spec.derive import edited, set_path
from archbench.spec.edit_steps import EditSteps
from archbench.spec.limits import layer_count
from archbench.spec.ops.base import clear_caches
from archbench.spec import load_spec
from archbench.zoo import names

SMALL = """
name: small
input: 3x32x32
classes: 10
body:
  - {{conv: 16, kernel: 3, name: stem}}
  - block: mixed
    branches:
      - [{op}]
      - [{{maxpool: 3, stride: 1, padding: 1}}, {{conv: 8, kernel: 1}}]
head:
  - {{global_pool: avg}}
  - {{linear: classes}}
"""


def candidates(space_name: str, count: int) -> list[dict]:
    """Points drawn as a search draws them (Optuna's random sampler through ``SearchSpace.sample``)."""
    space = load_space(space_name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=7))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return [space.sample(study.ask()) for _ in range(count)]


def priced(space_name: str, values: dict) -> tuple:
    """Everything pricing reads of one candidate, in a form that compares by value."""
    spec = load_space(space_name).spec(values)
    report = analyze(spec)
    totals = report.flops, report.params(), report.params(aux=True), report.activations
    rows = [(x.name, x.in_shape, x.out_shape, x.params, x.flops_by_op, x.activations, x.uncounted)
            for x in report.layers]
    memory = estimate_memory(spec, batch=2)
    return dump_yaml(spec), layer_count(spec), totals, rows, memory.inference_peak_bytes, memory.training_peak_bytes


@pytest.mark.parametrize("space_name", ["inception_v1", "inception_v3", "inception_resnet"])
def test_candidates_price_the_same_with_and_without_the_caches(space_name: str):
    points = candidates(space_name, 12)
    warm = [priced(space_name, values) for values in points for _ in range(2)][1::2]  # priced twice: hits
    cold = []
    for values in points:
        clear_caches()
        cold.append(priced(space_name, values))
    assert warm == cold


@pytest.mark.parametrize("good, bad, message", [
    ("{conv: 8, kernel: 1, bias: true}", "{conv: 8, kernel: 1, bias: 1}", "expected true or false, found int 1"),
    ("{conv: 8, kernel: 1}", "{conv: 8.0, kernel: 1}", "expected an integer, found float 8.0"),
    ("{conv: 8, kernel: 1, act: relu}", "{conv: 8, kernel: 1, act: 1}", "expected a string, found int 1"),
])
def test_an_op_equal_to_a_parsed_one_but_for_a_type_keeps_its_message(good: str, bad: str, message: str):
    loads(SMALL.format(op=good))  # parsed once without a problem: shared from now on
    with pytest.raises(SpecError, match=message):
        loads(SMALL.format(op=bad))


def structural_edits(base: dict) -> list[tuple[dict, bool]]:
    """Edits that replace, remove or rename what other edits go through or into, or reach one
    place by several paths, each with whether compiled paths (``EditSteps``) may apply it at once."""
    body = base["body"]
    i, layer = next((i, item["block"]) for i, item in enumerate(body) if "block" in item)
    width = len(body[i]["branches"])
    one = [{"conv": 8, "kernel": 1}]
    return [
        ({f"{layer}.branches[0]": one, f"{layer}.branches[0][0].conv": 16}, False),
        ({f"{layer}.branches[0][0].conv": 16, f"{layer}.branches[0]": one}, False),
        ({f"{layer}.block": "renamed", f"{layer}.branches[0][0].conv": 24, "renamed.branches[0][0].kernel": 3}, False),
        ({f"{layer}.block": "unset", f"{layer}.branches[0][0].conv": 24}, False),
        ({f"body[{i}].name": "other", "other.branches[0][0].conv": 24}, False),
        ({f"body[{i}]": {"block": "other", "branches": [one]}, "other.branches[0][0].conv": 16}, False),
        ({f"{layer}.branches[0][0].conv": 16, "body": [{"conv": 8, "kernel": 1, "name": "c"}],
          f"{layer}.branches[0][0].kernel": 3, "c.conv": 4}, False),
        ({f"{layer}.branches[0][0].conv": 16, f"{layer}.branches": "unset", f"{layer}.branches[0][0].kernel": 3}, False),
        ({f"{layer}.branches[0][0]": {"conv": 40, "kernel": 1}, f"{layer}.branches[0][0].kernel": 5}, False),
        ({f"{layer}.branches[9][0].conv": 8, "nowhere.conv": 8, f"{layer}.branches[0][0].conv": 32}, False),
        ({"defaults": "unset", "defaults.bn_eps": 0.01, "meta.note": "x"}, False),
        # one place by three paths (a negative position, the layer by its position): the last wins
        ({f"{layer}.branches[0][0].conv": 8, f"{layer}.branches[{-width}][0].kernel": 3,
          f"body[{i - len(body)}].branches[0][0].conv": 24}, True),
        ({f"{layer}.branches[{-width}]": one, f"{layer}.branches[0][0].conv": 16}, False),
        # mappings merged into one place twice; a field removed, then set again by another path
        ({f"{layer}.branches[0][0]": {"conv": 40}, f"body[{i}].branches[0][0]": {"kernel": 3},
          f"{layer}.repeat": "unset", f"body[{i}].repeat": 2}, True),
        # fields added to a layer and to the document, a list item replaced beside edits into its list
        ({f"{layer}.repeat": 3, f"{layer}.extra": 1, "description": "d", "width_multiplier": 0.5,
          f"{layer}.branches[1]": one, f"{layer}.branches[0][0].conv": 8, "name": "x"}, True),
    ]


@pytest.mark.parametrize("space_name", ["inception_v1", "inception_v3", "inception_resnet"])
def test_edited_documents_equal_edits_applied_one_by_one_to_a_copy(space_name: str):
    """A candidate's document shares the cached base's untouched containers; applied one path at
    a time to a deep copy instead, the same edits give the same document and errors, also when
    an edit replaces or removes a container or renames a layer on the way, and the base is
    left as it was. So do the paths compiled on the base (each container copied once for all
    edits), which a search uses: for every candidate, and for the edits above that they apply."""
    space = load_space(space_name)
    base = _base_doc(space.base, space.source)
    before = copy.deepcopy(base)
    steps = EditSteps(base)
    points = [({**space.edits(base, values), "name": "x"}, True) for values in candidates(space_name, 20)]
    cases = points + structural_edits(base)
    made = [(edited(base, edits), edited(base, edits, steps)) for edits, _ in cases]  # all kept: none shares
    for (edits, compiles), (plain, compiled) in zip(cases, made):
        one_by_one = copy.deepcopy(base)
        errors = [(path, error) for path, value in edits.items()
                  if (error := set_path(one_by_one, path, copy.deepcopy(value))) is not None]
        assert plain == compiled == (one_by_one, errors)
        assert (steps.apply(base, edits) is not None) == compiles, edits
    assert base == before


def row_sums(report) -> tuple[int, int, int, int]:
    """The totals pricing reads, added up from the per-layer rows instead."""
    main = [x for x in report.layers if not x.is_aux]
    return (sum(x.flops for x in main), sum(x.params for x in main), sum(x.params for x in report.layers),
            sum(x.activations for x in main))


@pytest.mark.parametrize("batch", [1, 3])
def test_totals_kept_on_nodes_equal_the_rows_on_the_zoo_and_on_candidates(batch: int):
    """``flops``/``params()``/``activations`` come from totals kept on shared nodes, the rows
    from a separate count: both must agree on every zoo network and on candidates of every
    space, the second time (totals read back from nodes) as the first."""
    specs = [load_spec(name) for name in names()]
    for space_name in ("inception_v1", "inception_v3", "inception_resnet"):
        space = load_space(space_name)
        specs += [space.spec(point) for point in candidates(space_name, 6)]
    clear_caches()
    for _ in range(2):
        for spec in specs:
            report = analyze(spec, batch=batch)
            got = report.flops, report.params(), report.params(aux=True), report.activations
            assert got == row_sums(report), spec.name
            assert report.flops == sum(v for k, v in report.flops_by_op().items() if k != "batch_norm")
