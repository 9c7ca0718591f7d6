"""Measure the calibration that the package ships (archbench/search/calibration.json).

``--recipe shipped`` (default) runs the sampling and training recipe the shipped file records
(space, samples, budgets, seed, data, image size, epochs, schedule); ``--recipe ground-truth``
runs the project's ground-truth recipe (``RECIPE`` at ``RECIPE_BUDGET`` in
archbench.search.train_objective: the one the shipped file was made with). It prints every cheap signal's Spearman with measured
accuracy, its bootstrap 95% interval and its paired-bootstrap margins over params and FLOPs, beside
the shipped numbers, with the machine and the wall time. ``--samples`` changes K; ``--out FILE``
writes the new calibration document (``--out archbench/search/calibration.json`` re-ships it).

    python benchmarks/bench_calibrate.py [--recipe ground-truth] [--samples 20] [--out results/calibration.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from archbench.report import write_json
from archbench.search.calibrate import CalibrationConfig, calibrate, document, from_rows, summary
from archbench.search.defaults import shipped_calibration, signed
from archbench.search.train_objective import RECIPE, RECIPE_BUDGET, TrainSettings

from _common import machine


def on_sample(i: int, row: dict, rows_file: str | None) -> None:
    print(f"  sample {i}: top-1 {row['accuracy']:.3f}", flush=True)
    if rows_file:
        with open(rows_file, "a") as f:
            f.write(json.dumps(row, default=float) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=("shipped", "ground-truth"), default="shipped")
    parser.add_argument("--samples", type=int, default=None, help="default: the shipped file's")
    parser.add_argument("--out", default=None)
    parser.add_argument("--shard", default="0/1", help="I/N: measure the samples with index I modulo N only")
    parser.add_argument("--rows", default=None, help="append each measured row to this JSON-lines file")
    parser.add_argument("--join", nargs="+", default=None, help="JSON-lines files of shards: join, do not measure")
    args = parser.parse_args()
    try:
        shipped = shipped_calibration()
    except FileNotFoundError:
        shipped = {"objectives": [], "measured": None, "command": None}
    if args.recipe == "ground-truth":
        config = CalibrationConfig(space="inception_v1", samples=args.samples or 20, budgets=(RECIPE_BUDGET,),
                                   train=RECIPE, seed=0)
    else:
        fields = {f.name for f in dataclasses.fields(TrainSettings)}
        settings = TrainSettings(**{k: v for k, v in shipped["recipe"].items() if k in fields})
        config = CalibrationConfig(space=shipped["space"], samples=args.samples or shipped["samples"],
                                   budgets=tuple(shipped["budgets"]), train=settings, seed=shipped["seed"])
    print(f"machine: {machine()}")
    print(f"recipe: {config}; shipped file measured {shipped['measured']} by {shipped['command']}", flush=True)
    started = time.perf_counter()
    if args.join:
        rows = [json.loads(line) for path in args.join for line in Path(path).read_text().splitlines() if line]
        result = from_rows(rows, config.seed)
        wall = None
    else:
        rows = [json.loads(line) for line in Path(args.rows).read_text().splitlines() if line] \
            if args.rows and Path(args.rows).exists() else []  # a resumed shard: measure only what is missing
        skip = frozenset(r["sample"] for r in rows)
        index, count = (int(x) for x in args.shard.split("/"))
        if any(i % count == index and i not in skip for i in range(config.samples)):
            calibrate(config, lambda i, row: (rows.append(row), on_sample(i, row, args.rows)),
                      shard=(index, count), skip=skip)
        result = from_rows(rows, config.seed)
        wall = time.perf_counter() - started
    before = {row["objective"]: row for row in shipped["objectives"]}
    print(f"\n{'objective':<10} {'Spearman [95%]':>24} {'minus params [95%]':>24} {'minus FLOPs [95%]':>24} "
          f"{'shipped':>8}")
    for row in result.correlations.to_dict(orient="records"):
        cells = [f"{signed(row[k])} [{signed(row[k + '_low'])}, {signed(row[k + '_high'])}]"
                 for k in ("spearman", "margin_params", "margin_flops")]
        print(f"{row['objective']:<10} {cells[0]:>24} {cells[1]:>24} {cells[2]:>24} "
              f"{signed(before.get(row['objective'], {}).get('spearman')):>8}")
    acc = result.samples["accuracy"]
    print(f"\naccuracy: min {acc.min():.3f}, median {acc.median():.3f}, max {acc.max():.3f}; "
          f"{len(result.samples)} samples" + (f" in {wall / 60:.1f} min" if wall else ""))
    print(summary(result.correlations))
    if args.out:
        command = f"python benchmarks/bench_calibrate.py --recipe {args.recipe} --samples {config.samples}"
        if args.join and len(args.join) > 1:
            command += f" --shard I/{len(args.join)} --rows FILE_I for each I, then --join FILE_0 ..."
        elif args.join:
            command += " --rows FILE, then --join FILE"
        write_json(document(result, config, command, wall), args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
