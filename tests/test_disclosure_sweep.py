"""The intruder against whole runs over cohort sizes and thresholds (slow: one suite run per case).

Run with ``make test-slow``. Small cohorts are where the threshold bites (many cells below k,
short curves); large ones where a curve has many steps and tables many cells to protect.
"""

from __future__ import annotations

import pytest

from analysis.data.synthetic import simulate_cohort, write_cohort
from analysis.output.audit import audit_run
from analysis.run.runner import run_suite


@pytest.mark.slow
@pytest.mark.parametrize("patients", [150, 600, 3000])
@pytest.mark.parametrize("k", [5, 10])
def test_the_intruder_recovers_nothing_from_masked_runs_of_any_size(patients, k, tmp_path):
    """Masked with k, no count below k comes back by any route; the same cohort run without
    control gives counts back (so each case can fail)."""
    data = tmp_path / "cohort"
    write_cohort(simulate_cohort(patients, seed=patients), data)
    masked = tmp_path / "masked"
    run_suite(data, masked, overrides=[f"min_cell_count={k}", "n_bootstrap=50", "n_imputations=3"], quiet=True)
    findings = audit_run(masked)
    assert findings.empty, findings.to_string()
    if patients == 150:
        open_run = tmp_path / "open"
        run_suite(data, open_run, overrides=["n_bootstrap=50", "n_imputations=3"], quiet=True)
        assert len(audit_run(open_run, min_cell_count=k))
