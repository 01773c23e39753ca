"""The intruder against whole runs over cohort sizes and thresholds (slow: one suite run per case).

Run with ``make test-slow``. Small cohorts are where the threshold bites (many cells below k,
short curves); large ones where a curve has many steps and tables many cells to protect.
"""

from __future__ import annotations

import pytest

from analysis.data.synthetic import simulate_cohort, write_cohort
from analysis.output.audit import audit_run
from analysis.run.runner import run_suite

#: With 150 women over five centres a centre can have no woman given personalized therapy: the
#: propensity model then has no finite estimate for that centre (a structural positivity
#: violation, which notebook 05 reports as such and stops on). A plan for a cohort this small
#: leaves the centre out of the propensity and AIPW models; the outcome models keep it.
SMALL_COHORT_PLAN = {150: ["ps_covariates=[age_at_biopsy_years, bmi_kg_m2, prior_failed_transfers, profile_group]"]}


@pytest.mark.slow
@pytest.mark.parametrize("patients", [150, 600, 3000])
@pytest.mark.parametrize("k", [5, 10])
def test_the_intruder_recovers_nothing_from_masked_runs_of_any_size(patients, k, tmp_path):
    """Masked with k, no count below k comes back by any route; the same cohort run without
    control gives counts back (so each case can fail)."""
    data = tmp_path / "cohort"
    write_cohort(simulate_cohort(patients, seed=patients), data)
    masked = tmp_path / "masked"
    plan = ["n_bootstrap=50", "n_imputations=3", *SMALL_COHORT_PLAN.get(patients, [])]
    run_suite(data, masked, overrides=[f"min_cell_count={k}", *plan], quiet=True)
    findings = audit_run(masked)
    assert findings.empty, findings.to_string()
    if patients == 150:
        open_run = tmp_path / "open"
        run_suite(data, open_run, overrides=plan, quiet=True)
        assert len(audit_run(open_run, min_cell_count=k))
