"""Issue 19's publication tables: Table 2 merged (unadjusted, adjusted, IPTW side by side), missing
data by arm, follow-up, and the rows under Figure 4, each in CSV, HTML, LaTeX and Word."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd

from analysis.output import pubtables
from analysis.output.declarations import declaration_for
from analysis.output.disclosure import mask_declared


def _estimates() -> pd.DataFrame:
    rows = []
    for model_id, shift, n in (
        ("lb_first_crude", 0.0, 1457),
        ("lb_first_adjusted", 0.1, 1300),
        ("lb_first_iptw", 0.2, 1457),
    ):
        for term, est in (("treatment_arm[empirical]", 1.10), ("treatment_arm[personalized]", 1.80)):
            rows.append(
                {
                    "model_id": model_id,
                    "term": term,
                    "estimate": est + shift,
                    "conf_low": est + shift - 0.3,
                    "conf_high": est + shift + 0.4,
                    "p_value": 0.0004 if est > 1.5 else 0.3123,
                    "n_obs": n,
                }
            )
    rows.append({"model_id": "lb_first_crude", "term": "(Intercept)", "estimate": 0.9, "n_obs": 1457})
    return pd.DataFrame(rows)


def test_table_two_merged_one_row_per_arm_and_a_column_group_per_model(tmp_path):
    t = pubtables.table_two_merged(_estimates(), conf_level=0.9, min_cell_count=0)
    assert list(t.frame["Arm vs none"]) == ["Empirical", "Personalized"]
    row = t.frame.set_index("Arm vs none").loc["Personalized"]
    assert row["Unadjusted: OR (90% CI)"] == "1.80 (1.50–2.20)"
    assert row["Adjusted: OR (90% CI)"] == "1.90 (1.60–2.30)"
    assert row["IPTW-weighted: OR (90% CI)"] == "2.00 (1.70–2.40)"
    assert row["IPTW-weighted: P"] == "<0.001"
    assert t.frame.set_index("Arm vs none").loc["Empirical", "Adjusted: P"] == "0.312"
    assert t.spanners == [("", 1), ("Unadjusted", 2), ("Adjusted", 2), ("IPTW-weighted", 2)]
    assert "Adjusted, 1,300 first transfers" in t.footnotes[0]
    paths = pubtables.write_table_formats(t, tmp_path)
    assert sorted(p.suffix for p in paths) == [".csv", ".docx", ".html", ".tex"]
    page = (tmp_path / "table_2_merged.html").read_text()
    assert '<th colspan="2">Adjusted</th>' in page and "<th>OR (90% CI)</th>" in page
    tex = (tmp_path / "table_2_merged.tex").read_text()
    assert r"\multicolumn{2}{c}{IPTW-weighted}" in tex and r"\cmidrule(lr){6-7}" in tex
    with zipfile.ZipFile(tmp_path / "table_2_merged.docx") as z:
        xml = z.read("word/document.xml").decode()
    assert 'w:gridSpan w:val="2"' in xml and "IPTW-weighted" in xml
    csv = pd.read_csv(tmp_path / "table_2_merged.csv")
    assert csv.columns[1] == "Unadjusted: OR (90% CI)"


def test_a_model_absent_from_the_run_is_left_out():
    est = _estimates()
    t = pubtables.table_two_merged(est[est["model_id"] != "lb_first_iptw"], min_cell_count=0)
    assert [label for label, _ in t.spanners] == ["", "Unadjusted", "Adjusted"]


def test_missing_by_arm_cells_and_masking():
    """n (%) missing per arm; with k = 10 a small count shows as <10 and its percentage is not given."""
    frame = pd.DataFrame(
        {
            "variable": ["bmi_kg_m2"] * 4 + ["amh_ng_ml"] * 4,
            "group": ["none", "empirical", "personalized", "overall"] * 2,
            "n": [583, 466, 408, 1457] * 2,
            "n_missing": [39, 13, 17, 69, 120, 100, 3, 223],
        }
    )
    frame["percent_missing"] = 100 * frame["n_missing"] / frame["n"]
    masked, _ = mask_declared(frame, declaration_for("missing_by_arm"), 10, name="missing_by_arm")
    t = pubtables.missing_by_arm_table(masked.astype(str), min_cell_count=10)
    assert list(t.frame.columns) == [
        "Variable",
        "No immunotherapy (n = 583)",
        "Empirical (n = 466)",
        "Personalized (n = 408)",
        "Overall (n = 1,457)",
    ]
    bmi = t.frame.set_index("Variable").loc["bmi kg m2"]
    assert bmi["No immunotherapy (n = 583)"] == "39 (6.7%)" and bmi["Overall (n = 1,457)"] == "69 (4.7%)"
    amh = t.frame.set_index("Variable").loc["amh ng ml"]
    assert amh["Personalized (n = 408)"] == "<10"
    # 223 - 120 - 100 would give the hidden 3 back: the mask hides a second cell of the variable
    assert amh["Empirical (n = 466)"] == "masked" and amh["Overall (n = 1,457)"] == "223 (15.3%)"


def test_follow_up_and_risk_tables(tmp_path):
    fu = pd.DataFrame(
        {
            "group": ["none", "empirical", "overall"],
            "n": ["583", "466", "1049"],
            "n_ended": ["292", "246", "538"],
            "median_days": ["326", "335", "330"],
            "q1_days": ["206", "208.5", "207"],
            "q3_days": ["440", "", "470"],
        }
    )
    t = pubtables.follow_up_table(fu, min_cell_count=0)
    assert list(t.frame["Median follow-up, days (IQR)"]) == [
        "326 (206–440)",
        "335 (208.5–not reached)",
        "330 (207–470)",
    ]
    assert list(t.frame["Arm"]) == ["No immunotherapy", "Empirical", "Overall"]
    risk = pd.DataFrame(
        {
            "grouping": "treatment_arm",
            "group": ["none", "none"],
            "time_days": ["0", "180"],
            "n_at_risk": ["583", "201"],
            "cum_events": ["0", "250"],
            "cum_censored": ["0", "132"],
        }
    )
    r = pubtables.risk_table(risk, min_cell_count=0)
    assert list(r.frame["Row"]) == ["At risk", "Cumulative live births", "Cumulative censored"]
    assert list(r.frame["Day 180"]) == ["201", "250", "132"]
    assert np.all([len(pubtables.write_table_formats(x, tmp_path)) == 4 for x in (t, r)])
