"""Checklists, the keyed Results draft and the submission bundle on a small hand-made run folder.

The folder holds a few rows of real table formats with numbers chosen by hand, so every number
of the draft can be checked against its formatting rule, and files can be removed or altered to
see the checks fail. The same checks on a whole run are in ``tests/test_runner.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import docx
import pandas as pd
import pytest
from PIL import Image

from analysis.core.exceptions import RunError
from analysis.output.bundle import BUNDLE_MANIFEST, write_bundle
from analysis.output.checklist_items import GUIDELINES, ChecklistItem, Guideline
from analysis.output.checklists import (
    STATUS,
    check_checklists,
    checklist_table,
    heading_anchor,
    resolve_location,
    write_checklists,
)
from analysis.output.results_draft import (
    build_results_draft,
    check_results_draft,
    format_cell,
    write_results_draft,
)
from analysis.run.cli import main

ESTIMATES = """notebook,model_id,outcome,population,estimator,term,coef,std_error,estimate,conf_low,conf_high,p_value,n_obs,n_events,n_clusters
05_treatment_effects,lb_first_iptw_rd,live_birth,first_transfer,iptw_rd,treatment_arm[personalized],0.168681,0.05,0.168681,0.041343,0.296019,0.029339,267,,
05_treatment_effects,lb_first_iptw_rr,live_birth,first_transfer,iptw_rr,treatment_arm[personalized],0.47,0.1,1.611992,1.137001,2.285413,0.024458,267,,
"""
EXCLUSIONS = """step,stage,kind,reason,n_patients,n_transfers
1,cohort,included,patients and transfers in the data,1234,2345
2,cohort,excluded,no embryo transfer within 365 days of the biopsy,<5,0
3,first_transfer,analysed,first-transfer population for live_birth,1230,1230
"""
HIERARCHY = """role,order,label,model_id,term,estimator,estimate,conf_low,conf_high,p_value,p_adjusted,multiplicity,alpha,significant,message
primary,0,"AIPW risk difference, dysregulated profiles",lb_first_aipw,treatment_arm[personalized] | profile_group=dysregulated,aipw_rd,0.196,0.0698,0.3222,0.0106,0.0106,none,0.05,True,
"""
RISKS = """arm,risk,std_error,conf_low,conf_high,n,weighted_n
none,0.2756261978,0.04,0.2,0.34,119,118.8
personalized,0.4443072285,0.06,0.33,0.55,74,72.6
"""


@pytest.fixture()
def fake_run(tmp_path):
    """A finished run in miniature: manifest, three tables, a report section, one main and one supplementary figure."""
    import matplotlib.pyplot as plt

    run = tmp_path / "run"
    (run / "tables").mkdir(parents=True)
    (run / "figures").mkdir()
    (run / "interim").mkdir()
    (run / "interim" / "cohort.parquet").write_bytes(b"patient-level rows")
    manifest = {"status": "ok", "parameters": {"conf_level": 0.9, "covariates": ["age"], "outcome": "live_birth"}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    (run / "tables" / "estimates.csv").write_text(ESTIMATES)
    (run / "tables" / "exclusions.csv").write_text(EXCLUSIONS)
    (run / "tables" / "iptw_risks.csv").write_text(RISKS)
    (run / "tables" / "hierarchy.csv").write_text(HIERARCHY)
    (run / "report.html").write_text('<html><body><h2 id="analysis-plan-parameters">Analysis-plan parameters</h2>')
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [0, 1])
    for stem in ("figure_1_flow", "supp_extra"):
        fig.savefig(run / "figures" / f"{stem}.png", dpi=300)
        fig.savefig(run / "figures" / f"{stem}.pdf")
    plt.close(fig)
    (run / "figures" / "figure_1.txt").write_text("Figure 1. Study flow.")
    return run


def test_locations_resolve_only_when_the_file_section_or_parameter_exists(fake_run):
    assert resolve_location(fake_run, "figures/figure_1_*.pdf") == "figures/figure_1_flow.pdf"
    assert resolve_location(fake_run, "figures/figure_6_*.pdf") is None
    assert resolve_location(fake_run, "report.html#analysis-plan-parameters") == "report.html#analysis-plan-parameters"
    assert resolve_location(fake_run, "report.html#the-emulated-target-trial") is None
    assert resolve_location(fake_run, "manifest.json#parameters.covariates") == "manifest.json#parameters.covariates"
    assert resolve_location(fake_run, "manifest.json#parameters.spline_knots") is None
    assert resolve_location(fake_run, "tables/nothing.csv") is None


def test_an_item_whose_sections_are_absent_says_what_is_missing_instead_of_pointing(fake_run):
    guideline = Guideline(
        "x",
        "x",
        (),
        (
            ChecklistItem("1", "Results", "Flow", "text", ("figures/figure_1_*.pdf", "tables/flow_missing.csv")),
            ChecklistItem("2", "Results", "Other", "text", ("tables/absent.csv",), "the authors' part"),
            ChecklistItem("3", "Other", "Funding", "text", (), "funding"),
        ),
    )
    table = checklist_table(fake_run, guideline).set_index("item")
    assert table.loc["1", "status"] == STATUS["run"]
    assert table.loc["1", "where"] == "figures/figure_1_flow.pdf"
    assert table.loc["1", "missing"] == "tables/flow_missing.csv"
    assert table.loc["2", "status"] == STATUS["absent"] and table.loc["2", "where"] == ""
    assert table.loc["3", "status"] == STATUS["authors"]


def test_written_checklists_name_only_existing_locations_and_the_check_catches_a_removed_file(fake_run):
    write_checklists(fake_run)
    for g in GUIDELINES.values():
        for ext in ("csv", "html", "docx"):
            assert (fake_run / f"{g.stem}.{ext}").is_file()
        docx.Document(fake_run / f"{g.stem}.docx")  # opens
        table = pd.read_csv(fake_run / f"{g.stem}.csv", dtype=str, keep_default_na=False)
        assert len(table) == len(g.items)
    assert check_checklists(fake_run) == []
    strobe = pd.read_csv(fake_run / "checklist_strobe_record.csv", dtype=str, keep_default_na=False)
    assert "figures/figure_1_flow.pdf" in strobe.set_index("item").loc["13c", "where"]
    (fake_run / "figures" / "figure_1_flow.pdf").unlink()
    assert any("figure_1_flow.pdf does not resolve" in p for p in check_checklists(fake_run))


def test_format_cell_by_hand():
    assert format_cell("0.168681", "points") == "16.9"
    assert format_cell("0.4443072285", "percent") == "44.4%"
    assert format_cell("1.611992", "ratio") == "1.61"
    assert format_cell("0.0004", "p") == "<0.001"
    assert format_cell("1234", "count") == "1,234"
    assert format_cell("0.9", "level") == "90%"
    assert format_cell("<5", "count") == "<5"  # a masked count stays masked
    assert format_cell("masked", "percent") == "masked"


def test_every_number_of_the_draft_is_its_table_cell_and_an_altered_table_fails(fake_run):
    write_results_draft(fake_run)
    assert check_results_draft(fake_run).empty
    text = (fake_run / "results_draft.md").read_text()
    keys = pd.read_csv(fake_run / "results_draft_keys.csv", dtype=str, keep_default_na=False)
    shown = dict(zip(keys["row"] + "|" + keys["column"], keys["shown"]))
    # the numbers as formatted by hand from the tables above
    assert shown["step=1|n_patients"] == "1,234" and shown["step=2|n_patients"] == "<5"
    rd = "model_id=lb_first_iptw_rd; term=treatment_arm[personalized]"
    assert (shown[f"{rd}|estimate"], shown[f"{rd}|conf_low"], shown[f"{rd}|conf_high"]) == ("16.9", "4.1", "29.6")
    assert shown["arm=personalized|risk"] == "44.4%" and shown["|parameters.conf_level"] == "90%"
    primary = [shown[f"role=primary|{c}"] for c in ("estimate", "conf_low", "conf_high", "p_value", "alpha")]
    assert primary == ["19.6", "7.0", "32.2", "0.011", "0.05"]
    for r in keys.itertuples():
        assert f"{r.shown}[^{r.key}]" in text
    assert "associated with" in text and "caused" not in text
    assert "(*no embryo transfer within 365 days of the biopsy*)" in text  # words from a table: not a number
    # a deliberately altered table: the draft no longer matches
    est = (fake_run / "tables" / "estimates.csv").read_text().replace("0.168681,0.041343", "0.171234,0.041343")
    (fake_run / "tables" / "estimates.csv").write_text(est)
    problems = check_results_draft(fake_run)
    assert len(problems) == 1 and problems.iloc[0]["expected"] == "17.1" and problems.iloc[0]["shown"] == "16.9"


def test_a_number_typed_into_the_draft_without_a_key_is_reported(fake_run):
    write_results_draft(fake_run)
    md = fake_run / "results_draft.md"
    md.write_text(md.read_text().replace("## Cohort", "About 42 women more.\n\n## Cohort"))
    problems = check_results_draft(fake_run)
    assert list(problems["problem"]) == ["number without a key"]


def test_the_bundle_opens_its_checksums_match_and_it_holds_nothing_row_level(fake_run, tmp_path):
    path = write_bundle(fake_run, tmp_path / "bundle.zip")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert not [n for n in names if n.startswith("interim/") or "parquet" in n]
        manifest = json.loads(zf.read(BUNDLE_MANIFEST))
        assert set(manifest["files"]) == set(names) - {BUNDLE_MANIFEST}
        for name, entry in manifest["files"].items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == entry["sha256"], name
        tiff = Image.open(io.BytesIO(zf.read("figures/figure_1_flow.tiff")))
        assert tiff.format == "TIFF" and tiff.mode == "RGB"
        assert round(tiff.info["dpi"][0]) == 300 and tiff.size == (600, 450)  # 2 × 1.5 in at 300 dpi
        png = Image.open(fake_run / "figures" / "figure_1_flow.png").convert("RGBA")
        on_white = Image.alpha_composite(Image.new("RGBA", png.size, "white"), png).convert("RGB")
        assert tiff.tobytes() == on_white.tobytes()  # the same pixels: converted, not redrawn
        supplement = docx.Document(io.BytesIO(zf.read("supplement.docx")))
        assert "Supplementary figure S1: extra." in [p.text for p in supplement.paragraphs]
        docx.Document(io.BytesIO(zf.read("results_draft.docx")))
        assert {"results_draft.md", "checklists/checklist_target.html", "figures/figure_1_flow.pdf"} <= set(names)
    assert path.read_bytes() == write_bundle(fake_run, tmp_path / "again.zip").read_bytes()  # same bytes


def test_the_bundle_refuses_a_coarse_figure_an_altered_table_and_a_missing_run(fake_run, tmp_path, capsys):
    with pytest.raises(RunError, match="saved at 300 dpi.*figure_dpi=600"):
        write_bundle(fake_run, tmp_path / "b.zip", dpi=600)
    write_results_draft(fake_run)
    (fake_run / "tables" / "iptw_risks.csv").write_text(RISKS.replace("0.4443072285", "0.4543072285"))
    with pytest.raises(RunError, match="no longer matches"):
        write_bundle(fake_run, tmp_path / "b.zip")
    assert main(["bundle", str(tmp_path / "absent")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    (fake_run / "manifest.json").write_text(json.dumps({"status": "failed"}))
    assert main(["bundle", str(fake_run)]) == 1
    assert "did not finish" in capsys.readouterr().err


def test_every_draft_section_a_checklist_names_is_a_section_the_draft_always_writes(fake_run):
    """The draft writes its sections even when their tables are absent (saying so), so a checklist
    pointing at ``results_draft.md#…`` names a heading that exists in every run."""
    anchors = {heading_anchor(s.title) for s in build_results_draft(fake_run)}
    named = {
        loc.split("#", 1)[1]
        for g in GUIDELINES.values()
        for item in g.items
        for loc in item.where
        if loc.startswith("results_draft.md#")
    }
    assert named and named <= anchors, named - anchors


def test_the_audit_reads_the_counts_of_the_draft(fake_run):
    """A count below the threshold written into the draft (here from an unmasked table) is found
    by the disclosure audit through the draft's keys; the masked run's ``<5`` is not a finding."""
    from analysis.output.audit import audit_run

    write_results_draft(fake_run)
    assert audit_run(fake_run, min_cell_count=5).query("source == 'results_draft.md'").empty
    (fake_run / "tables" / "exclusions.csv").write_text(EXCLUSIONS.replace("<5,0", "3,0"))
    write_results_draft(fake_run)
    found = audit_run(fake_run, min_cell_count=5).query("source == 'results_draft.md'")
    assert list(found["value"]) == [3] and "step=2" in found["location"].iloc[0]
