"""Does the search find better networks, and is its ground truth able to tell? (issue 13)

All runs use the shipped recipe (``archbench.search.train_objective.RECIPE``: synthetic data at
16x16, the small-image stem, AdamW, cosine, 4 epochs, batch 32) on the inception_v1 space at
``RECIPE_BUDGET``. Sub-commands, each writing a JSON file and printing a summary:

    python benchmarks/bench_signal.py spread [--archs 6 --seeds 0,1]
        the base network and random architectures of the space (repaired into the budget), each
        trained with every seed on the same data: spread of accuracy across architectures
        against the seed-to-seed standard deviation (the ground truth separates architectures
        when the spread is at least 3x the seed std).
    python benchmarks/bench_signal.py search [--seeds 0,1,2 --trials 24 --full-seeds 0 --full-trials 24]
        per search seed, train-objective searches of ``--trials`` trials: TPE with successive
        halving and random with successive halving (TPE vs random, compared at equal training
        steps), and for ``--full-seeds`` TPE with full training (multi-fidelity vs full). A
        stopped run resumes from ``search_partial.json`` (finished searches are not rerun). Best accuracy, hypervolume of
        (accuracy up, params down) and training steps to reach each best accuracy.
    python benchmarks/bench_signal.py gap [--seeds 3,4,5]
        the best network of the TPE searches against the space's base network scaled into the
        same budget, both retrained with fresh seeds (not the search's, so the search's lucky
        draws do not count): the gap and its spread.

``--out DIR`` (default benchmarks/results/signal) holds the JSON files; ``gap`` reads
``search.json`` from there. ``summarize`` rebuilds ``search.json`` from ``search_partial.json``
(the searches finished so far) when a ``search`` run was stopped.

On other data. ``--data`` (any source ``archbench train`` reads: an image folder, a .npz/.pt
file, ``cifar10:ROOT``) replaces the recipe's synthetic set, and ``--image-size``,
``--val-fraction``, ``--epochs``, ``--max-steps`` and ``--val-steps`` (per epoch), ``--batch-size``, ``--stem`` and
``--budget`` replace the other settings (``--price-at data`` prices the budget as trained); the
rest of the recipe stays. The results then go to
``benchmarks/results/signal-<data>`` unless ``--out`` says otherwise, so the shipped evidence is
never overwritten. For example, on CIFAR-10 with 200 steps per epoch:

    python benchmarks/bench_signal.py spread --data cifar10:~/data --max-steps 200 --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine
from bench_search import hypervolume_2d

SPACE = "inception_v1"


OVERRIDES: dict[str, Any] = {}  # recipe settings replaced from the command line (--data ...)
BUDGET_OVERRIDE: str | None = None
PRICE_AT = "space"  # --price-at: budgets on the space's network at its own input, or as trained ("data")
SETTING_FLAGS = ("data", "image_size", "val_fraction", "epochs", "max_steps", "max_val_steps", "batch_size", "stem")


def recipe() -> tuple[Any, str]:
    """The shipped recipe and budget, with the command line's replacements."""
    from archbench.search.train_objective import RECIPE, RECIPE_BUDGET

    return dataclasses.replace(RECIPE, **OVERRIDES), BUDGET_OVERRIDE or RECIPE_BUDGET


def adapter(settings: Any) -> Any:
    """How budgets price a candidate (``archbench.search.budget.price``'s ``adapt``)."""
    from archbench.search.train_objective import TrainObjective

    return TrainObjective(settings).adapt if PRICE_AT == "data" else None


def default_out(data: str | None) -> str:
    """The recipe's evidence folder, or one per other data source (never the shipped one)."""
    if data is None:
        return "benchmarks/results/signal"
    kind, _, rest = data.partition(":") if ":" in data and not Path(data).exists() else ("", "", data)
    label = "-".join(x for x in (kind, Path(rest.rstrip("/")).name if "/" in rest else rest) if x)
    slug = "-".join("".join(c if c.isalnum() else " " for c in label).split())
    return f"benchmarks/results/signal-{slug or 'data'}"


def train_spec(spec: Any, data: Any, seed: int) -> dict[str, float]:
    """Train ``spec`` with the recipe on ``data`` (fixed), weights and order from ``seed``."""
    from archbench.search.train_objective import TrainObjective
    from archbench.train import fit, model_for_data

    settings, _ = recipe()
    objective = TrainObjective(dataclasses.replace(settings, seed=seed))
    model, adapted = model_for_data(spec, data, aux=settings.aux, seed=seed, stem=settings.stem)
    t0 = time.perf_counter()
    result = fit(model, data, objective.config())
    from archbench.cost import analyze

    report = analyze(adapted)
    return {"top1": float(result.best_top1), "final_top1": float(result.history[-1].val_top1),
            "steps": sum(m.steps for m in result.history), "seconds": time.perf_counter() - t0,
            "flops_trained": report.flops, "params_trained": report.params()}


@functools.lru_cache(maxsize=1)
def load_recipe_data(seed: int = 0) -> Any:
    """The recipe's data (loaded once: ``main`` reads its classes, the sub-commands train on it)."""
    from archbench.train import load_data

    settings, _ = recipe()
    return load_data(settings.data, image_size=settings.image_size, val_fraction=settings.val_fraction, seed=seed)


def spread(args: argparse.Namespace) -> dict:
    from archbench.search.budget import price, repair
    from archbench.search.calibrate import CalibrationConfig, sample_specs
    from archbench.search.space import load_space
    from archbench.units import parse_budget

    settings, budget = recipe()
    space = load_space(SPACE)
    budgets = [parse_budget(budget)]
    adapt = adapter(settings)
    archs = [("base", space.defaults, repair(space.spec(space.defaults), budgets, space.min_width, adapt=adapt).spec)]
    # the first feasible draws of one seeded sampler (more draws only reach further down the same sequence)
    draws = sample_specs(space, CalibrationConfig(space=SPACE, samples=20 * args.archs, budgets=(budget,), seed=0,
                                                  train=settings, price_at=PRICE_AT))
    archs += [(f"sample{i}", values, spec) for i, (values, spec) in enumerate(draws)
              if price(spec, budgets, adapt).feasible][:args.archs - 1]
    if len(archs) < 2:
        raise SystemExit(f"spread: none of {len(draws)} random architectures fits {budget} (only the base network "
                         "does); loosen --budget")
    data = load_recipe_data(0)
    rows = []
    for name, values, spec in archs:
        for seed in args.seeds:
            row = {"arch": name, "seed": seed, "width": spec.width_multiplier, "params": values,
                   **train_spec(spec, data, seed)}
            rows.append(row)
            print(f"  {name:8s} seed {seed}: top-1 {row['top1']:.3f} ({row['seconds']:.0f} s, "
                  f"{row['flops_trained'] / 1e6:.1f} MFLOPs trained)", flush=True)
    means = {n: statistics.mean(r["top1"] for r in rows if r["arch"] == n) for n, _, _ in archs}
    # pooled within-architecture (seed-to-seed) standard deviation
    within = [statistics.variance([r["top1"] for r in rows if r["arch"] == n]) for n, _, _ in archs]
    seed_std = statistics.mean(within) ** 0.5
    summary = {"archs": len(archs), "seeds": args.seeds, "arch_means": means,
               "range": max(means.values()) - min(means.values()), "arch_std": statistics.stdev(means.values()),
               "seed_std": seed_std}
    # no ratio when every seed gave the same accuracy (JSON has no infinity)
    summary["ratio_range"] = summary["range"] / seed_std if seed_std else None
    summary["ratio_std"] = summary["arch_std"] / seed_std if seed_std else None
    ratio = lambda r: "n/a (no seed-to-seed variation)" if r is None else f"{r:.1f}"  # noqa: E731
    print(f"spread across {len(archs)} architectures: range {summary['range']:.3f}, std of the means "
          f"{summary['arch_std']:.3f}; seed-to-seed std {seed_std:.3f}; range / seed std = "
          f"{ratio(summary['ratio_range'])}, std / seed std = {ratio(summary['ratio_std'])}")
    return {"rows": rows, "summary": summary}


def one_search(seed: int, sampler: str, pruner: str, trials: int, folder: str) -> list[dict]:
    from archbench.search.runner import SearchConfig, run_search

    settings, budget = recipe()
    config = SearchConfig(space=SPACE, budgets=[budget], objectives=["train"], trials=trials, seed=seed,
                          sampler=sampler, results=folder, study=f"{sampler}_{pruner}_{seed}", price_at=PRICE_AT,
                          train=dataclasses.replace(settings, seed=seed, pruner=pruner))
    t0 = time.perf_counter()
    study = run_search(config)
    out = []
    for t in study.trials:
        out.append({"number": t.number, "state": t.state.name, "value": t.value if t.state.name == "COMPLETE" else None,
                    "epochs": sorted(int(k[len("val_top1_epoch"):]) for k in t.user_attrs if k.startswith("val_top1_epoch")),
                    "best_seen": max([v for k, v in t.user_attrs.items() if k.startswith("val_top1_epoch")], default=None),
                    "steps": t.user_attrs.get("train_steps", 0), "params": t.user_attrs.get("params"),
                    "flops": t.user_attrs.get("flops"), "width": t.user_attrs.get("width_multiplier"),
                    "infeasible": bool(t.user_attrs.get("infeasible")), "cached": "cached_from" in t.user_attrs,
                    "values": t.params})
    print(f"  seed {seed} {sampler:6s} {pruner:4s}: {len(out)} trials in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def search_summary(trials: list[dict], max_params: float, chance: float = 0.1) -> dict:
    done = [t for t in trials if t["state"] == "COMPLETE" and t["value"] is not None and t["value"] > 0]
    best = max(done, key=lambda t: t["value"]) if done else None
    steps, cumulative = 0, []
    for t in trials:  # trial order = training order (one worker)
        steps += t["steps"]
        cumulative.append(steps)
    best_value = best["value"] if best else None
    to_best = next((cumulative[i] for i, t in enumerate(trials) if best and t["number"] == best["number"]), None)
    return {"best": best_value, "best_number": best["number"] if best else None,
            "best_values": best["values"] if best else None, "steps": steps, "steps_to_best": to_best,
            "pruned": sum(t["state"] == "PRUNED" for t in trials),
            # accuracy above chance x params saved below the largest seen in any search (share of it)
            "hypervolume": hypervolume_2d([(t["value"], -t["params"] / max_params) for t in done], (chance, -1.0)),
            "curve": [(cumulative[i], t["value"]) for i, t in enumerate(trials) if t in done]}


def steps_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    return next((s for s, v in curve if v >= target - 1e-12), None)


def search(args: argparse.Namespace) -> dict:
    plan = [(seed, sampler, "sh", args.trials) for seed in args.seeds for sampler in ("tpe", "random")]
    plan += [(seed, "tpe", "none", args.full_trials or args.trials) for seed in args.full_seeds]
    partial = Path(args.out) / "search_partial.json"
    partial.parent.mkdir(parents=True, exist_ok=True)
    # a stopped run resumes: the searches it finished are kept, not run again
    runs: dict[str, list] = json.loads(partial.read_text()) if partial.exists() else {}
    with tempfile.TemporaryDirectory() as folder:
        for seed, sampler, pruner, trials in plan:
            if f"{sampler}_{pruner}_{seed}" not in runs:
                runs[f"{sampler}_{pruner}_{seed}"] = one_search(seed, sampler, pruner, trials, folder)
                partial.write_text(json.dumps(runs, default=str))
    return summarize_search(runs, args.seeds, args.chance)


def best_at(curve: list[tuple[int, float]], steps: int) -> float | None:
    """The best accuracy a search had found after ``steps`` training steps."""
    return max([v for s, v in curve if s <= steps], default=None)


def fidelity_row(sh: dict, full: dict, base: float | None) -> dict:
    """Multi-fidelity (successive halving) against full training, one search seed.

    Both searches start from the same enqueued base network, so "steps to reach the full search's
    best" is trivially equal when neither finds better: the row also gives the steps each needed to
    reach the best accuracy *both* reached, to first beat the base network, and each one's best at
    the smaller of the two compute totals."""
    if full["best"] is None or sh["best"] is None:
        return {}
    target = min(full["best"], sh["best"])
    common = min(full["steps"], sh["steps"])
    beat = lambda curve: next((s for s, v in curve if base is not None and v > base + 1e-12), None)  # noqa: E731
    return {"full_best": full["best"], "full_steps": full["steps"], "full_steps_to_best": full["steps_to_best"],
            "sh_best": sh["best"], "sh_steps": sh["steps"], "sh_steps_to_best": sh["steps_to_best"],
            "common_target": target, "full_steps_to_target": steps_to_reach(full["curve"], target),
            "sh_steps_to_target": steps_to_reach(sh["curve"], target),
            "base_top1": base, "full_steps_to_beat_base": beat(full["curve"]), "sh_steps_to_beat_base": beat(sh["curve"]),
            "fidelity_equal_steps": common, "full_best_at_equal_steps": best_at(full["curve"], common),
            "sh_best_at_equal_steps": best_at(sh["curve"], common)}


def summarize_search(runs: dict[str, list], seeds: list[int], chance: float = 0.1) -> dict:
    """Per-seed comparisons; ``chance`` (1 / classes) is the accuracy end of the hypervolume's
    reference point."""
    max_params = max(t["params"] for trials in runs.values() for t in trials if t["params"])
    summary = {key: search_summary(trials, max_params, chance) for key, trials in runs.items()}
    rows = []
    for seed in seeds:
        tpe, rnd = (summary[f"{k}_{seed}"] for k in ("tpe_sh", "random_sh"))
        common = min(tpe["steps"], rnd["steps"])  # equal training compute: both cut at the smaller total
        base = runs[f"tpe_sh_{seed}"][0]["value"]  # trial 0: the space's base network, enqueued
        rows.append({"seed": seed, "tpe_best": tpe["best"], "random_best": rnd["best"],
                     "tpe_best_at_equal_steps": best_at(tpe["curve"], common),
                     "random_best_at_equal_steps": best_at(rnd["curve"], common),
                     "equal_steps": common, "tpe_hv": tpe["hypervolume"], "random_hv": rnd["hypervolume"],
                     **(fidelity_row(tpe, summary[f"tpe_none_{seed}"], base) if f"tpe_none_{seed}" in summary else {})})
        r = rows[-1]
        print(f"seed {seed}: best top-1 TPE {r['tpe_best']:.3f} vs random {r['random_best']:.3f} "
              f"(at equal {common} steps: {r['tpe_best_at_equal_steps']:.3f} vs {r['random_best_at_equal_steps']:.3f}); "
              f"HV {r['tpe_hv']:.4g} vs {r['random_hv']:.4g}", flush=True)
        if "full_best" in r:
            print(f"  full training: best {r['full_best']:.3f} in {r['full_steps']} steps; successive halving: best "
                  f"{r['sh_best']:.3f} in {r['sh_steps']} steps. Steps to reach {r['common_target']:.3f} (both "
                  f"reached it): full {r['full_steps_to_target']}, SH {r['sh_steps_to_target']}; to beat the base "
                  f"({r['base_top1']:.3f}): full {r['full_steps_to_beat_base']}, SH {r['sh_steps_to_beat_base']}; "
                  f"best at {r['fidelity_equal_steps']} steps: full {r['full_best_at_equal_steps']:.3f}, "
                  f"SH {r['sh_best_at_equal_steps']:.3f}", flush=True)
    means = {}
    if rows:
        mean = lambda key: statistics.mean(r[key] for r in rows)  # noqa: E731
        means = {key: mean(key) for key in ("tpe_best", "random_best", "tpe_best_at_equal_steps",
                                             "random_best_at_equal_steps", "tpe_hv", "random_hv")}
        means["tpe_wins_at_equal_steps"] = sum(r["tpe_best_at_equal_steps"] > r["random_best_at_equal_steps"]
                                               for r in rows)
        print(f"over {len(rows)} search seeds: best TPE {means['tpe_best']:.3f} vs random {means['random_best']:.3f}; "
              f"at equal steps {means['tpe_best_at_equal_steps']:.3f} vs {means['random_best_at_equal_steps']:.3f} "
              f"(TPE ahead in {means['tpe_wins_at_equal_steps']} of {len(rows)}); HV {means['tpe_hv']:.4g} vs "
              f"{means['random_hv']:.4g}", flush=True)
    return {"runs": runs, "summary": summary, "rows": rows, "means": means, "max_params": max_params,
            "chance": chance}


def summarize(args: argparse.Namespace) -> dict:
    """``search``'s summary from ``search_partial.json`` (the searches a stopped run finished)."""
    runs = json.loads((Path(args.out) / "search_partial.json").read_text())
    seeds = [s for s in args.seeds if f"tpe_sh_{s}" in runs and f"random_sh_{s}" in runs]
    return summarize_search(runs, seeds, args.chance)


def gap(args: argparse.Namespace) -> dict:
    from archbench.search.budget import repair
    from archbench.search.space import load_space
    from archbench.units import parse_budget

    settings, budget = recipe()
    adapt = adapter(settings)
    found = json.loads((Path(args.out) / "search.json").read_text())
    tpe = [v for k, v in found["summary"].items() if k.startswith("tpe_sh_") and v["best"] is not None]
    winner = max(tpe, key=lambda v: v["best"])
    space = load_space(SPACE)
    budgets = [parse_budget(budget)]
    specs = {"base": repair(space.spec(space.defaults), budgets, space.min_width, adapt=adapt).spec,
             "found": repair(space.spec(winner["best_values"]), budgets, space.min_width, adapt=adapt).spec}
    data = load_recipe_data(0)
    rows = [{"net": name, "seed": seed, **train_spec(spec, data, seed)} for name, spec in specs.items()
            for seed in args.seeds]
    for r in rows:
        print(f"  {r['net']:5s} seed {r['seed']}: top-1 {r['top1']:.3f}", flush=True)
    acc = {n: [r["top1"] for r in rows if r["net"] == n] for n in specs}
    diffs = [f - b for f, b in zip(acc["found"], acc["base"])]
    summary = {"search_value": winner["best"], "found_values": winner["best_values"],
               "base_mean": statistics.mean(acc["base"]), "found_mean": statistics.mean(acc["found"]),
               "gap_mean": statistics.mean(diffs), "gap_min": min(diffs), "gap_max": max(diffs),
               "gap_std": statistics.stdev(diffs) if len(diffs) > 1 else None}
    print(f"found {summary['found_mean']:.3f} vs base {summary['base_mean']:.3f}: gap {summary['gap_mean']:+.3f} "
          f"(per seed {', '.join(f'{d:+.3f}' for d in diffs)})")
    return {"rows": rows, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("spread", "search", "summarize", "gap"))
    parser.add_argument("--archs", type=int, default=6)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--full-seeds", type=lambda s: [int(x) for x in s.split(",") if x], default=[0],
                        help="search seeds that also run a TPE search with full training (multi-fidelity baseline; "
                             "about 13 min each on 2 CPU cores, so the default, one, keeps the run near an hour)")
    parser.add_argument("--full-trials", type=int, default=24, help="trials of each full-training search")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="default: benchmarks/results/signal, or signal-<data> with --data")
    recipe_flags = parser.add_argument_group("the recipe's settings, replaced (default: the shipped recipe's)")
    recipe_flags.add_argument("--data", help="image folder, .npz/.pt file, cifar10:ROOT or synthetic:...")
    recipe_flags.add_argument("--image-size", type=int)
    recipe_flags.add_argument("--val-fraction", type=float)
    recipe_flags.add_argument("--epochs", type=int)
    recipe_flags.add_argument("--max-steps", type=int, help="training steps per epoch at most")
    recipe_flags.add_argument("--val-steps", type=int, dest="max_val_steps",
                              help="validation batches per epoch at most")
    recipe_flags.add_argument("--batch-size", type=int)
    recipe_flags.add_argument("--stem", choices=("auto", "imagenet", "small"))
    recipe_flags.add_argument("--budget", help="e.g. 0.15GFLOPs (priced at the space's own input size)")
    recipe_flags.add_argument("--price-at", choices=("space", "data"), default="space",
                              help="price the budget as trained on the data (as search --price-at data)")
    args = parser.parse_args()
    OVERRIDES.update({k: getattr(args, k) for k in SETTING_FLAGS if getattr(args, k) is not None})
    global BUDGET_OVERRIDE, PRICE_AT
    BUDGET_OVERRIDE, PRICE_AT = args.budget, args.price_at
    args.out = args.out or default_out(args.data)
    args.seeds = args.seeds or {"spread": [0, 1], "search": [0, 1, 2], "summarize": [0, 1, 2], "gap": [3, 4, 5]}[args.command]
    import optuna
    import torch

    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings, budget = recipe()
    args.chance = 1 / load_recipe_data(0).num_classes  # the hypervolume's accuracy reference
    print(f"machine: {machine()}; torch threads {args.threads}\nrecipe: {settings}, space {SPACE} at {budget}; "
          f"writing to {args.out}", flush=True)
    t0 = time.perf_counter()
    result = {"spread": spread, "search": search, "summarize": summarize, "gap": gap}[args.command](args)
    name = "search" if args.command == "summarize" else args.command
    result.update({"machine": machine(), "recipe": dataclasses.asdict(settings), "budget": budget,
                   "seconds": time.perf_counter() - t0, "args": vars(args)})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    print(f"{args.command}: {result['seconds']:.0f} s; wrote {out / (name + '.json')}")


if __name__ == "__main__":
    main()
