"""The figure layout check (analysis.output.layout): it finds texts that overlap or touch, texts off
the canvas and legends over data, and it passes on the suite's figures (Figure 2 in particular)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from conftest import SHIPPED

from analysis.data.synthetic import simulate_cohort, write_cohort
from analysis.output import layout, style
from analysis.output.layout import FigureLayoutError, check_figure_layout, figure_layout_problems
from analysis.run.runner import run_suite


@pytest.fixture()
def fig():
    with style.style_context():
        figure, ax = plt.subplots(figsize=style.figure_size("single"))
        ax.set(xlim=(0, 1), ylim=(0, 1), xticks=[0.25, 0.75], yticks=[0.25, 0.75])  # no labels at the corner
        yield figure
    plt.close(figure)


def test_crowded_tick_labels_of_one_axis_are_reported_and_raise(fig):
    """The Figure 2 bug on purpose: wrapped group labels that run into each other."""
    ax = fig.axes[0]
    labels = ["Over-\nactivated\n(n = 1890)", "Under-\nactivated\n(n = 1251)"] * 4
    ax.set_xticks(range(len(labels)), labels)
    problems = figure_layout_problems(fig)
    assert (problems["problem"] == "overlap").sum() >= 7
    assert problems["artist"].str.startswith("x tick label").all()
    with pytest.raises(FigureLayoutError, match="overlap: x tick label"):
        check_figure_layout(fig, "crowded")


def test_texts_that_touch_count_as_overlapping_but_texts_a_word_apart_do_not(fig):
    """Two labels whose boxes touch read as one ("activated(n = 421)"); 1 pt apart is the minimum."""
    ax = fig.axes[0]
    fig.canvas.draw()
    first = ax.text(0.1, 0.5, "activated", transform=ax.transAxes)
    width = first.get_window_extent(fig.canvas.get_renderer()).width
    dx = width / ax.get_window_extent().width
    touching = ax.text(0.1 + dx, 0.5, "(n = 421)", transform=ax.transAxes)
    assert list(figure_layout_problems(fig)["problem"]) == ["overlap"]
    touching.set_x(0.1 + dx + 3 / ax.get_window_extent().width * fig.dpi / 72 * 1.5)  # ~4.5 pt apart
    assert figure_layout_problems(fig).empty


def test_rotated_labels_are_compared_as_rotated_rectangles(fig):
    """45° tick labels whose axis-aligned boxes overlap but whose letters do not pass."""
    ax = fig.axes[0]
    names = ["IL-15/Fn-14", "IL-18/TWEAK", "uNK CD56+", "CD138+", "Blood NK"] * 2
    ax.set_xticks(range(10), names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_xlim(-0.5, 9.5)
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels()]
    assert boxes[0].x1 > boxes[1].x0  # the boxes do overlap
    assert figure_layout_problems(fig).empty


def test_text_off_the_canvas_is_reported(fig):
    fig.text(0.98, 0.5, "a caption that runs off the page")
    problems = figure_layout_problems(fig)
    assert list(problems["problem"]) == ["off_canvas"]
    assert "right" in problems["detail"].iloc[0]


def test_a_legend_over_points_is_reported_and_one_beside_the_axes_is_not(fig):
    ax = fig.axes[0]
    grid = np.linspace(0, 1, 15)
    xx, yy = np.meshgrid(grid, grid)
    ax.scatter(xx.ravel(), yy.ravel(), s=4, label="patients")
    ax.plot(grid, grid, label="a line")
    ax.legend(loc="center")
    problems = figure_layout_problems(fig)
    assert set(problems["problem"]) == {"legend_over_data"}
    assert {"points of axes 1", "line of axes 1"} == set(problems["other"])
    style.legend_beside(ax)
    assert figure_layout_problems(fig).empty


def test_a_legend_over_bars_is_reported(fig):
    ax = fig.axes[0]
    ax.bar([0, 1, 2], [10, 10, 10], width=0.9, label="bars")
    ax.set(xlim=(-0.5, 2.5), ylim=(0, 12), xticks=[0, 2], yticks=[5, 10])
    ax.legend(loc="center")
    assert list(figure_layout_problems(fig)["problem"]) == ["legend_over_data"]


def test_hidden_axes_and_ticks_outside_the_view_are_not_checked(fig):
    ax = fig.axes[0]
    ax.set_xticks([0, 0.5, 10], ["left", "middle", "far away"])  # 10 is outside the view (0, 1)
    ax.set_xlim(0, 1)
    hidden = fig.add_axes([0.1, 0.1, 0.3, 0.3])
    hidden.text(0.5, 0.5, "x" * 10)
    hidden.text(0.5, 0.5, "y" * 10)
    hidden.set_visible(False)
    assert figure_layout_problems(fig).empty


def test_saving_records_the_check_and_raises_in_raise_mode(fig, tmp_path, monkeypatch):
    ax = fig.axes[0]
    ax.text(0.5, 0.5, "one")
    ax.text(0.5, 0.5, "two")
    monkeypatch.setenv(layout.LAYOUT_ENV, "record")
    style.save_figure(fig, "bad", tmp_path / "figures", formats=("png",), layout_record=tmp_path / "tables")
    record = pd.read_csv(tmp_path / "tables" / layout.LAYOUT_FILE)
    assert list(record["figure"]) == ["bad"] and list(record["problem"]) == ["overlap"]
    monkeypatch.setenv(layout.LAYOUT_ENV, "raise")
    with pytest.raises(FigureLayoutError):
        style.save_figure(fig, "bad2", tmp_path / "figures", formats=("png",))
    assert not (tmp_path / "figures" / "bad2.png").exists()
    monkeypatch.setenv(layout.LAYOUT_ENV, "sometimes")
    with pytest.raises(ValueError, match="ENDOIMMUNE_FIGURE_LAYOUT"):
        layout.layout_mode()


@pytest.fixture(scope="module")
def cohort_150(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort_150")
    write_cohort(simulate_cohort(150, seed=3), out)
    return out


@pytest.mark.parametrize("k", [10])
def test_figure_2_passes_on_a_150_patient_cohort(cohort_150, tmp_path, monkeypatch, k):
    """Figure 2 and the landscape's supplementary figures, drawn by the study module, with and
    without disclosure control (hexagonal bins, box plots, masked prevalence segments)."""
    from analysis.data.profiles import DEFAULT_CUTOFFS
    from analysis.study import s02_immune_landscape as s02
    from analysis.study.context import open_context

    monkeypatch.setenv(layout.LAYOUT_ENV, "raise")
    ctx = open_context(
        "02_immune_landscape",
        data_dir=cohort_150,
        run_dir=tmp_path,
        min_cell_count=k,
        figure_formats=("png",),
        figure_dpi=50,
    )
    s02.landscape_figure(ctx, profile_cutoffs=DEFAULT_CUTOFFS, blood_nk_cutoff=12)
    s02.marker_correlations(ctx)
    record = pd.read_csv(tmp_path / "tables" / layout.LAYOUT_FILE, keep_default_na=False)
    assert list(record["problem"]) == ["none", "none"]
    plt.close("all")


def _assert_every_figure_passes(run_dir):
    record = pd.read_csv(run_dir / "tables" / layout.LAYOUT_FILE, keep_default_na=False)
    saved = {p.stem for p in (run_dir / "figures").glob("*.png")}
    assert saved and saved == set(record["figure"])
    bad = record[record["problem"] != "none"]
    assert bad.empty, bad.to_string()


@pytest.mark.slow
@pytest.mark.parametrize("cohort", ["shipped", "large", "small_masked"])
def test_every_figure_of_a_run_passes_the_layout_check(cohort, tmp_path, monkeypatch):
    """Whole runs on the shipped cohort (1,500 patients) and on a 5,000-patient cohort; a figure
    with a layout problem fails its notebook (the kernels inherit the environment)."""
    monkeypatch.setenv(layout.LAYOUT_ENV, "raise")
    data = SHIPPED
    overrides = ["n_bootstrap=50", "n_imputations=3", "pp_bootstrap=20"]
    if cohort != "shipped":
        data = tmp_path / "cohort"
        # the small masked run has 300 women: at 150, notebook 06 stops before any figure of its
        # own (effect_modification: no marker estimable leaves no p_value column; not a layout issue)
        write_cohort(simulate_cohort(5000 if cohort == "large" else 300, seed=11), data)
    if cohort == "small_masked":  # 300 women with disclosure control and every risk-table row
        overrides += ["min_cell_count=10", "aipw_max_failed_share=0.5", "risk_table_events=true"]
        overrides += ["risk_table_censored=true"]
    out = tmp_path / "run"
    run_suite(data, out, overrides=overrides, quiet=True)
    _assert_every_figure_passes(out)
