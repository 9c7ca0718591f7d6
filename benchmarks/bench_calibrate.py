"""Re-measure the calibration shipped in the package (archbench/search/calibration.json).

Runs the same sampling and training recipe as the shipped file records (space, samples, budgets,
seed, data, image size, epochs, schedule), and prints every cheap signal's Spearman with measured
accuracy, its bootstrap 95% interval and its paired-bootstrap margins over params and FLOPs, beside
the shipped numbers, with the machine and the wall time. ``--samples`` changes K; ``--out FILE``
writes the new calibration document (``--out archbench/search/calibration.json`` re-ships it).

    python benchmarks/bench_calibrate.py [--samples 20] [--out results/calibration.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from archbench.report import write_json
from archbench.search.calibrate import CalibrationConfig, calibrate, document, summary
from archbench.search.defaults import shipped_calibration, signed
from archbench.search.train_objective import TrainSettings

from _common import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=None, help="default: the shipped file's")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    shipped = shipped_calibration()
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    settings = TrainSettings(**{k: v for k, v in shipped["recipe"].items() if k in fields})
    config = CalibrationConfig(space=shipped["space"], samples=args.samples or shipped["samples"],
                               budgets=tuple(shipped["budgets"]), train=settings, seed=shipped["seed"])
    print(f"machine: {machine()}")
    print(f"recipe (shipped {shipped['measured']}): {shipped['command']}")
    started = time.perf_counter()
    result = calibrate(config, lambda i, row: print(f"  sample {i}: top-1 {row['accuracy']:.3f}", flush=True))
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
          f"{config.samples} samples in {wall / 60:.1f} min")
    print(summary(result.correlations))
    if args.out:
        write_json(document(result, config, f"python benchmarks/bench_calibrate.py --samples {config.samples}", wall),
                   args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
