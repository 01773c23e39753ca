"""AIPW intervals by influence function vs bootstrap: ``python -m benchmarks.aipw_inference [--patients 56000]``.

Simulates one cohort (:func:`analysis.data.synthetic.simulate_cohort`), derives it, and times on
its first transfers (a) the AIPW risk differences of notebook 05 with the influence-function
interval (:func:`analysis.methods.effects.aipw_rd_rows`, ``inference="influence"``: both models
fitted once, one pass for the stacked influence functions) and (b) the same with the patient
bootstrap (``inference="bootstrap"``) at ``--replicates`` replicates and ``--jobs`` workers,
extrapolated linearly to notebook 05's default of 500 replicates (the replicates are independent
refits of the same size). CPU seconds of this process are recorded beside the wall seconds (with
``--jobs 1`` the replicates run in it), since the machine may be shared. Loading and deriving the cohort are not timed. One row per run is
appended to ``benchmarks/results/aipw_inference.csv``; docs/performance.md quotes it.
"""

from __future__ import annotations

import argparse
import csv
import time
from datetime import date

from analysis.data.cohort import derive_cohort
from analysis.data.synthetic import simulate_cohort
from analysis.data.validation import validate_cohort
from analysis.methods import effects
from benchmarks.run import RESULTS

PS_COVARIATES = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "center_id", "profile_group"]


def aipw_inference_timings(n_patients: int, *, replicates: int, jobs: int, seed: int = 1) -> dict:
    """Return the wall seconds of the AIPW estimate with each inference on one simulated cohort."""
    sim = simulate_cohort(n_patients, seed=seed)
    first = derive_cohort(validate_cohort(sim.patients, sim.transfers)).population("first")
    common = dict(
        ps_covariates=PS_COVARIATES,
        outcome_covariates=PS_COVARIATES,
        model_id="lb_first_aipw",
        notebook="benchmark",
    )
    t0, c0 = time.perf_counter(), time.process_time()
    infl = effects.aipw_rd_rows(first, inference="influence", **common)
    t_if, c_if = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    boot = effects.aipw_rd_rows(first, inference="bootstrap", n_bootstrap=replicates, n_jobs=jobs, seed=seed, **common)
    t_boot, c_boot = time.perf_counter() - t0, time.process_time() - c0
    ratio = boot.comparison["se_ratio_influence_to_bootstrap"]
    return {
        "date": date.today().isoformat(),
        "patients": n_patients,
        "first_transfers": int(infl.estimates["n_obs"].iloc[0]),
        "influence_seconds": round(t_if, 2),
        "bootstrap_replicates": replicates,
        "bootstrap_jobs": jobs,
        "bootstrap_seconds": round(t_boot, 2),
        "bootstrap_500_seconds_extrapolated": round(t_if + (t_boot - t_if) * 500 / replicates, 1),
        "influence_cpu_seconds": round(c_if, 2),
        "bootstrap_cpu_seconds": round(c_boot, 2),
        "se_ratio_min": round(float(ratio.min()), 3),
        "se_ratio_max": round(float(ratio.max()), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[56000])
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    path = RESULTS / "aipw_inference.csv"
    for n in args.patients:
        row = aipw_inference_timings(n, replicates=args.replicates, jobs=args.jobs)
        print(row, flush=True)
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)


if __name__ == "__main__":
    main()
