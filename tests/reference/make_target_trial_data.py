"""Write the fixed data of the target-trial reference (run from the repository root).

    .venv/bin/python tests/reference/make_target_trial_data.py

Simulates a small realistic clinic (600 women, seed 31, effects on) and writes
``target_trial_transfers.csv``: each woman's course from time zero, one row per transfer, with
the raw columns R needs to rebuild the weights and the models itself
(``make_target_trial_reference.R``). Floats are written at full (round-trip) precision: the
calendar years rounded to 10 digits moved the sequential-trials coefficient by 1e-5 relative.
"""

from pathlib import Path

from analysis.data.clinic import simulate_clinic
from analysis.data.cohort import load_cohort
from analysis.data.synthetic import write_cohort
from analysis.methods.target_trial import first_course

HERE = Path(__file__).resolve().parent


def main() -> None:
    out = HERE / "target_trial_cohort"
    write_cohort(simulate_clinic(600, seed=31), out)
    course = first_course(load_cohort(out))
    cols = [
        "patient_id",
        "k",
        "day",
        "treatment_arm",
        "assigned_arm",
        "on_protocol",
        "lb",
        "continued",
        "age_at_biopsy_years",
        "prior_failed_transfers",
        "center_id",
        "profile_group",
        "first_transfer_year",
        "transfer_year",
        "earlier_failures",
    ]
    course.transfers[cols].to_csv(HERE / "target_trial_transfers.csv", index=False)
    women = course.women[
        [
            "patient_id",
            "assigned_arm",
            "time_days",
            "status",
            "age_at_biopsy_years",
            "prior_failed_transfers",
            "center_id",
            "profile_group",
            "first_transfer_year",
        ]
    ]
    women.to_csv(HERE / "target_trial_women.csv", index=False)


if __name__ == "__main__":
    main()
