"""One benchmark stage in a fresh process: ``python -m benchmarks.stage STAGE DATA_DIR WORK_DIR``.

Prints one JSON line: stage, wall seconds, and the getrusage peaks of this process and of its
largest finished descendant (a kernel started by papermill), in MiB. The peak of the whole
process tree (kernels and their worker pools alive at once) is sampled from outside by
``benchmarks.run`` (:mod:`benchmarks.memory`). Running each stage in its own process keeps the
peaks apart.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

COVARIATES = [
    "age_at_biopsy_years",
    "bmi_kg_m2",
    "prior_failed_transfers",
    "embryo_stage",
    "good_quality_embryos",
    "cycle_type",
    "oocyte_source",
    "center_id",
]
PS_COVARIATES = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "center_id", "profile_group"]
COX_COVARIATES = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "center_id"]


def _cohort(data_dir):
    from analysis.data.cohort import load_cohort

    return load_cohort(data_dir)


def run_stage(stage: str, data_dir: str, work_dir: str) -> dict:
    """Run one stage; return what was timed (setup such as loading the cohort is not timed)."""
    from analysis.methods import outcomes

    work = Path(work_dir)
    extra: dict = {}
    setup_done = time.perf_counter()
    if stage == "load_validate":
        _cohort(data_dir)
    elif stage in ("fit_logit", "fit_gee", "fit_cox", "fit_iptw", "fit_aipw_point", "export_r"):
        cohort = _cohort(data_dir)
        first = cohort.population("first", "live_birth")
        setup_done = time.perf_counter()
        if stage == "fit_logit":
            log = outcomes.ModelLog("bench")
            outcomes.fit_logit_model(
                log,
                first,
                model_id="lb_first_adjusted",
                outcome="live_birth",
                population="first_transfer",
                exposures=["treatment_arm"],
                covariates=COVARIATES,
            )
            assert log.status_frame()["status"].eq("ok").all(), log.status_frame()
        elif stage == "fit_gee":
            all_t = cohort.population("all", "live_birth")
            setup_done = time.perf_counter()
            log = outcomes.ModelLog("bench")
            outcomes.fit_gee_model(
                log,
                all_t,
                model_id="lb_all_gee",
                outcome="live_birth",
                population="all_transfers",
                exposures=["treatment_arm"],
                covariates=COVARIATES,
            )
            assert log.status_frame()["status"].eq("ok").all(), log.status_frame()
        elif stage == "fit_cox":
            from analysis.methods import survival_analysis, time_to_event
            from analysis.models import survival as surv

            design = survival_analysis.cox_design(time_to_event.time_to_live_birth(cohort), covariates=COX_COVARIATES)
            setup_done = time.perf_counter()  # the fit alone, as R's coxph (the PH check is timed in notebook 04)
            surv.fit_cox(
                design,
                duration_col="time_days",
                event_col="event",
                covariates=[c for c in design.columns if c not in ("time_days", "event")],
            )
        elif stage == "fit_iptw":
            from analysis.methods import effects

            effects.iptw_estimate(first, covariates=PS_COVARIATES, model_id="lb_first_iptw", notebook="benchmark")
        elif stage == "fit_aipw_point":
            from analysis.methods import effects

            effects.aipw_risks(first, ps_covariates=PS_COVARIATES, outcome_covariates=PS_COVARIATES)
        elif stage == "export_r":
            from analysis.methods import time_to_event

            cols = ["patient_id", "live_birth", "treatment_arm", *COVARIATES]
            outcomes.model_frame(first, cols).to_csv(work / "first.csv", index=False)
            all_t = cohort.population("all", "live_birth")
            outcomes.model_frame(all_t, cols).sort_values("patient_id").to_csv(work / "all.csv", index=False)
            ttlb = time_to_event.time_to_live_birth(cohort)
            ttlb[["time_days", "event", "treatment_arm", *COX_COVARIATES]].dropna().to_csv(
                work / "ttlb.csv", index=False
            )
    elif stage.startswith("notebook:") or stage in ("suite", "suite_jobs2"):
        from analysis.run.runner import NOTEBOOK_DIR, run_suite

        notebooks = [NOTEBOOK_DIR / f"{stage.split(':', 1)[1]}.ipynb"] if stage.startswith("notebook:") else None
        out = run_suite(
            data_dir,
            work / stage.replace(":", "_"),
            force=True,
            notebooks=notebooks,
            quiet=True,
            jobs=2 if stage == "suite_jobs2" else 1,
        )
        if stage == "suite":  # each notebook's own time inside the suite, from the manifest
            manifest = json.loads((out / "manifest.json").read_text())
            extra = {n["notebook"].removesuffix(".ipynb"): n["wall_seconds"] for n in manifest["notebooks"]}
        cells = cell_seconds(out / "notebooks")
    else:
        raise SystemExit(f"unknown stage {stage}")
    wall = time.perf_counter() - setup_done
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "stage": stage,
        "wall_seconds": round(wall, 3),
        "peak_mib_process": round(self_rss, 1),
        "peak_mib_children": round(child_rss, 1),
        "notebooks_in_suite": extra,
        **({"cells": cells} if stage.startswith("notebook:") or stage in ("suite", "suite_jobs2") else {}),
    }


def cell_seconds(folder: Path) -> list[dict]:
    """Each code cell's wall time in the executed notebooks of ``folder`` (papermill's ``duration``).

    Returns
    -------
    list of dict
        ``notebook``, ``cell`` (position among the code cells), ``code`` (the cell's first line)
        and ``seconds``.
    """
    rows = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        code_cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        for i, c in enumerate(code_cells):
            seconds = c.get("metadata", {}).get("papermill", {}).get("duration")
            if seconds is None:
                continue
            source = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            first = source.strip().splitlines()[0] if source.strip() else ""
            rows.append({"notebook": path.stem, "cell": i, "code": first[:100], "seconds": round(float(seconds), 3)})
    return rows


if __name__ == "__main__":
    print(json.dumps(run_stage(*sys.argv[1:4])), flush=True)
