"""Write the fixed data of the influence-function reference (run from the repository root).

    PYTHONPATH=$PWD .venv/bin/python tests/reference/make_influence_data.py

Simulates a 260-woman cohort (``simulate_cohort(260, seed=1818)``) and writes
``influence_data.csv``: every transfer of each woman's course up to her first live birth (the
``all`` population, several rows per woman, so the variance is summed by woman), complete cases
of the columns below. ``make_influence_reference.R`` computes the AIPW and stacked IPTW
sandwich variances on it by hand; ``tests/test_influence_inference.py`` compares.
"""

from pathlib import Path

from analysis.data.cohort import derive_cohort
from analysis.data.synthetic import simulate_cohort
from analysis.data.validation import validate_cohort

HERE = Path(__file__).resolve().parent
COLUMNS = [
    "patient_id",
    "treatment_arm",
    "live_birth",
    "age_at_biopsy_years",
    "bmi_kg_m2",
    "prior_failed_transfers",
    "center_id",
    "profile_group",
]


def main() -> None:
    sim = simulate_cohort(260, seed=1818)
    rows = derive_cohort(validate_cohort(sim.patients, sim.transfers)).population("all")[COLUMNS].dropna()
    rows = rows.assign(
        treatment_arm=rows["treatment_arm"].astype(str),
        profile_group=rows["profile_group"].astype(str),
        live_birth=rows["live_birth"].astype(int),
    )
    rows.to_csv(HERE / "influence_data.csv", index=False)


if __name__ == "__main__":
    main()
