"""Tests of the figure style (analysis.output.style) and the figure functions (analysis.output.plotting)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402

from analysis.output import plotting, style  # noqa: E402


@pytest.fixture(autouse=True)
def _styled():
    with style.style_context():
        yield
    plt.close("all")


@pytest.fixture
def ax():
    fig, ax = plt.subplots(figsize=style.figure_size("single"))
    return ax


@pytest.fixture
def patients():
    rng = np.random.default_rng(3)
    n = 60
    return pd.DataFrame(
        {
            "il15_fn14_ratio": rng.lognormal(0, 1.0, n),
            "il18_tweak_ratio": rng.lognormal(0, 0.7, n),
            "unk_cd56_percent": rng.normal(3, 0.5, n),
            "center_id": np.repeat(["C1", "C2", "C3"], n // 3),
            "immune_profile": pd.Series(
                np.tile(["balanced", "over_activated", "under_activated", "mixed"], n // 4), dtype="string"
            ),
        }
    )


@pytest.fixture
def estimates():
    return pd.DataFrame(
        {
            "group": ["overall", "overall", "balanced", "balanced", "dysregulated", "dysregulated"],
            "label": ["Empirical vs none", "Personalized vs none"] * 3,
            "treatment_arm": ["empirical", "personalized"] * 3,
            "estimate": [1.2, 1.6, 0.9, np.nan, 1.3, 2.1],
            "conf_low": [0.8, 1.1, 0.5, np.nan, 0.7, 1.2],
            "conf_high": [1.8, 2.3, 1.6, np.nan, 2.4, 3.7],
        }
    )


def _curves():
    t = np.array([0.0, 100, 200, 300, 400])
    rows = []
    for g, f in [("none", 0.10), ("personalized", 0.15)]:
        est = 1 - np.exp(-f * t / 100)
        rows.append(
            pd.DataFrame(
                {
                    "group": g,
                    "time_days": t,
                    "estimate": est,
                    "conf_low": est * 0.8,
                    "conf_high": np.minimum(est * 1.2, 1),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _points(ax):
    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))


# ------------------------------------------------------------------------------------------
# style


def test_figure_size_in_inches():
    w, h = style.figure_size("single", aspect=0.5)
    assert w == pytest.approx(89 / 25.4)
    assert h == pytest.approx(w * 0.5)
    assert style.figure_size(100)[0] == pytest.approx(100 / 25.4)
    with pytest.raises(ValueError):
        style.figure_size("triple")


def test_colours_fixed_distinct_and_stable():
    assert set(style.ARM_COLORS) == {"none", "empirical", "personalized"}
    assert set(style.PROFILE_COLORS) == {"balanced", "over_activated", "under_activated", "mixed"}
    assert set(style.GROUP_COLORS) == {"balanced", "dysregulated"}
    first = dict(style.ARM_COLORS)
    # drawing does not change the mapping, and a level keeps its colour whatever its companions
    style.colors_for(["personalized", "x", "none"])
    assert style.ARM_COLORS == first
    assert style.colors_for(["personalized"])["personalized"] == first["personalized"]
    assert style.colors_for(["none", "empirical", "personalized"]) == first
    palette = (
        list(style.ARM_COLORS.values()) + list(style.PROFILE_COLORS.values()) + [style.GROUP_COLORS["dysregulated"]]
    )
    assert len(set(palette)) == len(palette)
    assert style.GROUP_COLORS["balanced"] == style.PROFILE_COLORS["balanced"]
    assert set(palette) <= set(style.OKABE_ITO.values())
    assert style.ARM_LABELS["none"] == "No immunotherapy"
    assert style.PROFILE_LABELS["over_activated"] == "Over-activated"


def test_apply_style_and_context_restore():
    with style.style_context():
        rc = plt.rcParams
        assert rc["pdf.fonttype"] == 42 and rc["ps.fonttype"] == 42
        assert rc["svg.hashsalt"] == style.SVG_HASHSALT
        assert rc["font.size"] == 7 and rc["axes.titlesize"] == 8
        assert not rc["axes.spines.top"] and not rc["axes.spines.right"]
        assert rc["savefig.dpi"] == 300 and rc["figure.dpi"] == 100
        assert rc["font.sans-serif"][:2] == ["Arial", "Helvetica"]
    with matplotlib.rc_context({"pdf.fonttype": 3}):
        style.apply_style()
        assert plt.rcParams["pdf.fonttype"] == 42
    assert plt.rcParams["pdf.fonttype"] == 42  # the outer style_context fixture


def test_panel_letter_fixed_offset_in_points():
    offsets = []
    for size in [style.figure_size("single"), style.figure_size("double", 0.3)]:
        fig, ax = plt.subplots(figsize=size)
        letter = style.add_panel_letter(ax, "A")
        assert letter.get_text() == "a"
        assert letter.get_fontweight() == "bold" and letter.get_fontsize() == 9
        fig.canvas.draw()
        corner = ax.transAxes.transform((0, 1))
        pos = letter.get_window_extent().p0  # bottom-left of the letter, pixels
        offsets.append((pos - corner) * 72 / fig.dpi)
    assert np.allclose(offsets[0], offsets[1], atol=0.5)
    assert offsets[0][0] < 0 and offsets[0][1] > 0  # left of and above the axes


def _demo_figure():
    fig, axes = plt.subplots(1, 2, figsize=style.figure_size("double", 0.4))
    plotting.plot_correlation_heatmap(
        pd.DataFrame([[1, 0.3, -0.2], [0.3, 1, 0.5], [-0.2, 0.5, 1]], index=list("abc"), columns=list("abc")),
        ax=axes[0],
    )
    plotting.plot_cumulative_incidence(_curves(), ax=axes[1])
    style.add_panel_letter(axes[0], "a")
    return fig


def test_save_figure_formats_and_identical_bytes(tmp_path):
    fig = _demo_figure()
    first = style.save_figure(fig, "fig1", tmp_path / "out")
    assert [p.name for p in first] == ["fig1.pdf", "fig1.svg", "fig1.png"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in first)
    bytes1 = [p.read_bytes() for p in first]
    second = style.save_figure(fig, "fig1", tmp_path / "out")
    assert [p.read_bytes() for p in second] == bytes1
    # a fresh, identical figure gives the same bytes as well
    plt.close(fig)
    third = style.save_figure(_demo_figure(), "fig2", tmp_path / "out")
    assert [p.read_bytes() for p in third] == bytes1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["fig1.pdf", "fig1.svg", "fig1.png", "fig2.pdf", "fig2.svg", "fig2.png"]
    )  # no temp files
    pdf = bytes1[0]
    assert b"CreationDate" not in pdf and b"ModDate" not in pdf
    assert b"<dc:date>" not in bytes1[1]


def test_save_figure_does_not_close(tmp_path):
    fig, ax = plt.subplots()
    style.save_figure(fig, "x", tmp_path, formats=("png",))
    assert plt.fignum_exists(fig.number)


def test_dense_scatters_are_embedded_as_images_in_vector_files_and_sparse_ones_stay_vectors(tmp_path):
    """At registry size a scatter of tens of thousands of markers made every PDF and SVG slow to
    write; above ``RASTERIZE_POINTS_ABOVE`` points it is one image, everything else stays vector."""
    rng = np.random.default_rng(0)
    fig, (dense_ax, sparse_ax) = plt.subplots(1, 2)
    dense = dense_ax.scatter(*rng.normal(size=(2, style.RASTERIZE_POINTS_ABOVE + 1)), s=2)
    sparse_ax.scatter(*rng.normal(size=(2, 50)), s=2)
    svg, pdf = style.save_figure(fig, "dense", tmp_path / "a", formats=("svg", "pdf"))
    text = svg.read_text()
    assert text.count("<image") == 1  # the dense collection only
    assert 50 <= text.count("<use ") < 200  # the sparse markers (and ticks) stay vector markers, the 2,001 do not
    assert not dense.get_rasterized()  # the figure is left as it was given
    again = style.save_figure(fig, "dense", tmp_path / "b", formats=("svg", "pdf"))
    assert [p.read_bytes() for p in again] == [svg.read_bytes(), pdf.read_bytes()]
    plt.close(fig)


def test_pdf_fonts_are_truetype_not_type3(tmp_path):
    fig = _demo_figure()
    (pdf,) = style.save_figure(fig, "fonts", tmp_path, formats=("pdf",))
    data = pdf.read_bytes()
    assert b"/Subtype /Type3" not in data
    assert b"/FontFile2" in data
    (svg,) = style.save_figure(fig, "fonts", tmp_path, formats=("svg",))
    assert b"<text" in svg.read_bytes()  # svg.fonttype "none": text stays text


# ------------------------------------------------------------------------------------------
# figure functions: draw on the given Axes and return it


def test_marker_distribution(ax, patients):
    out = plotting.plot_marker_distribution(
        patients, marker="il15_fn14_ratio", cutoffs={"low": 0.5, "high": 2.0}, ax=ax, min_cell_count=0
    )
    assert out is ax
    assert ax.get_yscale() == "log"  # log-normal marker: right-skewed
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert len(labels) == 4 and labels[0].startswith("Balanced") and "(n = 15)" in labels[0]
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert sorted(ln.get_ydata()[0] for ln in dashed) == [0.5, 2.0]
    assert _points(ax) == len(patients)
    # profile colours
    first = [c for c in ax.collections if isinstance(c, PathCollection)][0]
    balanced = style.PROFILE_COLORS["balanced"].lower()
    assert matplotlib.colors.to_hex(first.get_facecolor()[0]) == balanced


def test_marker_distribution_linear_and_default_cutoffs(ax, patients):
    from analysis.data.profiles import DEFAULT_CUTOFFS

    plotting.plot_marker_distribution(
        patients, marker="unk_cd56_percent", cutoffs=DEFAULT_CUTOFFS, ax=ax, min_cell_count=0
    )
    assert ax.get_yscale() == "linear"  # symmetric marker
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert sorted(ln.get_ydata()[0] for ln in dashed) == [1.2, 4.5]


def test_marker_distribution_current_axes(patients):
    fig, ax = plt.subplots()
    assert plotting.plot_marker_distribution(patients, marker="unk_cd56_percent", min_cell_count=0) is ax


def test_prevalence(ax, patients):
    out = plotting.plot_prevalence(patients, by="center_id", ax=ax, min_cell_count=0)
    assert out is ax
    assert len(ax.patches) == 3 * 4
    # each bar stacks to 100 %
    tops = {}
    for p in ax.patches:
        x = round(p.get_x(), 6)
        tops[x] = max(tops.get(x, 0), p.get_y() + p.get_height())
    assert np.allclose(list(tops.values()), 100)
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("n = 20") == 3
    colours = {matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches}
    assert colours == {c.lower() for c in style.PROFILE_COLORS.values()}


def test_prevalence_overall(ax, patients):
    plotting.plot_prevalence(patients, ax=ax, min_cell_count=0)
    assert len(ax.patches) == 4
    assert "n = 60" in [t.get_text() for t in ax.texts]


def test_correlation_heatmap_masks_upper_triangle(ax):
    corr = pd.DataFrame(
        [[1, 0.3, -0.2, 0.1], [0.3, 1, 0.5, 0.0], [-0.2, 0.5, 1, 0.7], [0.1, 0.0, 0.7, 1]],
        index=list("abcd"),
        columns=list("abcd"),
    )
    out = plotting.plot_correlation_heatmap(corr, ax=ax)
    assert out is ax
    img = ax.images[0]
    arr = img.get_array()
    assert arr.shape == (3, 3)  # rows b..d, columns a..c: no diagonal
    mask = np.ma.getmaskarray(arr)
    assert mask[np.triu_indices(3, k=1)].all()
    assert not mask[np.tril_indices(3)].any()
    assert arr[2, 2] == pytest.approx(0.7)  # d vs c
    assert img.norm.vmin == -1 and img.norm.vmax == 1  # centred at 0
    assert len(ax.texts) == 6
    assert {t.get_text() for t in ax.texts} >= {"0.30", "\u22120.20", "0.70"}
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "c", "d"]


def test_cutoff_scatter(ax, patients):
    out = plotting.plot_cutoff_scatter(
        patients,
        x="il15_fn14_ratio",
        y="il18_tweak_ratio",
        x_cutoff=(0.5, 2.0),
        y_cutoff=2.0,
        hue="immune_profile",
        log=(True, True),
        ax=ax,
        min_cell_count=0,
    )
    assert out is ax
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert _points(ax) == len(patients)
    colours = {matplotlib.colors.to_hex(c.get_facecolor()[0]) for c in ax.collections}
    assert colours == {c.lower() for c in style.PROFILE_COLORS.values()}
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 3
    assert {"2", " 0.5", " 2"} <= {t.get_text() for t in ax.texts}


def test_cutoff_scatter_missing_hue(ax, patients):
    patients.loc[:4, "immune_profile"] = pd.NA
    plotting.plot_cutoff_scatter(
        patients, x="il15_fn14_ratio", y="il18_tweak_ratio", hue="immune_profile", ax=ax, min_cell_count=0
    )
    assert _points(ax) == len(patients)
    assert "Missing (n = 5)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_forest(ax, estimates):
    out = plotting.plot_forest(estimates, group_col="group", ax=ax)
    assert out is ax
    assert _points(ax) == 5  # one NaN estimate
    assert ax.get_xscale() == "log"
    refs = [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [1.0, 1.0]]
    assert len(refs) == 1
    texts = [t.get_text() for t in ax.texts]
    assert "not estimable" in texts
    assert "1.20 (0.80–1.80)" in texts
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "Overall" and "Balanced" in labels and "Dysregulated" in labels
    assert len(labels) == 9  # 3 headings + 6 rows
    colours = {matplotlib.colors.to_hex(c.get_facecolor()[0]) for c in ax.collections if isinstance(c, PathCollection)}
    assert colours == {style.ARM_COLORS[a].lower() for a in ["empirical", "personalized"]}


def test_forest_plain(ax, estimates):
    plotting.plot_forest(estimates.drop(columns=["treatment_arm", "group"]), annotate=False, log=False, ax=ax)
    assert ax.get_xscale() == "linear"
    assert [t.get_text() for t in ax.texts] == ["not estimable"]
    assert len(ax.get_yticklabels()) == 6


def test_cumulative_incidence_with_at_risk(ax):
    at_risk = pd.DataFrame(
        {
            "group": ["none"] * 3 + ["personalized"] * 3,
            "time_days": [0, 200, 400] * 2,
            "n_at_risk": [50, 31, 12, 40, 22, 7],
        }
    )
    out = plotting.plot_cumulative_incidence(
        _curves(), at_risk=at_risk, at_risk_times=[0, 200, 400], ax=ax, min_cell_count=0
    )
    assert out is ax
    numbers = [t.get_text() for t in ax.texts if t.get_gid() == "at-risk-number"]
    assert numbers == ["50", "31", "12", "40", "22", "7"]
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "at-risk-label"]
    assert labels == ["No immunotherapy", "Personalized"]
    assert list(ax.get_xticks()) == [0, 200, 400]
    colours = [matplotlib.colors.to_hex(ln.get_color()) for ln in ax.get_lines()]
    assert colours == [style.ARM_COLORS["none"].lower(), style.ARM_COLORS["personalized"].lower()]
    # numbers sit under their tick and below the axis
    ax.figure.canvas.draw()
    numbers = [t for t in ax.texts if t.get_gid() == "at-risk-number"]
    x_tick = ax.transData.transform((200, 0))[0]
    assert numbers[1].get_window_extent().x0 < x_tick < numbers[1].get_window_extent().x1
    assert all(t.get_window_extent().y1 < ax.get_window_extent().y0 for t in numbers)


def test_cumulative_incidence_as_of_lookup(ax):
    at_risk = pd.DataFrame({"group": ["none"] * 2, "time_days": [0, 150], "n_at_risk": [50, 30]})
    plotting.plot_cumulative_incidence(
        _curves()[lambda d: d.group == "none"], at_risk=at_risk, at_risk_times=[0, 100, 200], ax=ax, min_cell_count=0
    )
    assert [t.get_text() for t in ax.texts if t.get_gid() == "at-risk-number"] == ["50", "50", "30"]


def test_cumulative_by_transfer(ax):
    table = pd.DataFrame(
        [
            dict(group=g, transfer_number=k, conservative=0.1 * k, optimistic=0.12 * k)
            for g in ["balanced", "dysregulated"]
            for k in range(1, 5)
        ]
    )
    out = plotting.plot_cumulative_by_transfer(table, ax=ax)
    assert out is ax
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3", "4+"]
    lines = ax.get_lines()
    assert len(lines) == 4
    assert [ln.get_linestyle() for ln in lines] == ["-", "--", "-", "--"]
    assert matplotlib.colors.to_hex(lines[0].get_color()) == style.GROUP_COLORS["balanced"].lower()


def test_schoenfeld(ax):
    rng = np.random.default_rng(0)
    res = pd.DataFrame({"time": rng.uniform(0, 500, 40), "residual": rng.normal(0.4, 1, 40)})
    out = plotting.plot_schoenfeld(res, covariate="personalized", coef=0.4, ax=ax, min_cell_count=0)
    assert out is ax
    assert _points(ax) == 40
    assert any(list(ln.get_ydata()) == [0.4, 0.4] for ln in ax.get_lines())
    assert len(ax.get_lines()) == 2  # smooth + coefficient


def test_missingness(ax):
    table = pd.DataFrame(
        {"variable": ["amh_ng_ml", "bmi_kg_m2", "cd138_per_hpf"], "percent_missing": [20.0, 0.0, 45.5]}
    )
    out = plotting.plot_missingness(table, ax=ax)
    assert out is ax
    assert len(ax.patches) == 3
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["bmi_kg_m2", "amh_ng_ml", "cd138_per_hpf"]  # most missing at the top
    assert "45.5%" in [t.get_text() for t in ax.texts]


def test_plot_functions_do_not_change_rcparams(ax, patients, estimates):
    before = dict(plt.rcParams)
    plotting.plot_forest(estimates, ax=ax)
    plotting.plot_prevalence(patients, ax=plt.figure().gca(), min_cell_count=0)
    assert dict(plt.rcParams) == before


def test_effect_plots_draw_every_arm_and_the_balance_threshold():
    from analysis.output.plotting import effects as effect_plots

    scores = pd.DataFrame({"arm": ["none"] * 5 + ["personalized"] * 5, "ps_personalized": np.linspace(0.1, 0.9, 10)})
    ax = effect_plots.plot_overlap(scores)
    assert len(ax.patches) == 2 and [t.get_text() for t in ax.get_legend().get_texts()] == [
        "No immunotherapy (n = 5)",
        "Personalized (n = 5)",
    ]
    plt.close(ax.figure)
    balance = pd.DataFrame(
        {
            "variable": ["age", "bmi"],
            "variable_type": "continuous",
            "group": "personalized",
            "reference": "none",
            "smd_unweighted": [0.4, -0.05],
            "smd_weighted": [0.02, 0.01],
        }
    )
    ax = effect_plots.plot_love(balance)
    top = max(ax.get_yticklabels(), key=lambda t: t.get_position()[1])
    assert top.get_text() == "age"  # largest imbalance on top
    assert any(line.get_xdata()[0] == 0.1 for line in ax.get_lines())
    plt.close(ax.figure)


def test_calibration_lowess_fits_locally_one_percent_of_the_range_apart():
    """Would catch the lowess of every row (statsmodels' delta=0), quadratic in rows: 142 s in
    Figure 5 on 500,000 first transfers. The drawn curve is R's default (local fits 1% of the
    range of predicted risk apart, interpolated), within 2e-3 of the fit at every row here."""
    from statsmodels.nonparametric.smoothers_lowess import lowess

    from analysis.output.plotting import biomarkers

    rng = np.random.default_rng(12)
    p = rng.beta(2, 5, 6000)
    y = (rng.random(6000) < p).astype(float)
    fig, ax = plt.subplots()
    biomarkers.plot_calibration(p, y, ax=ax)
    drawn = next(line for line in ax.get_lines() if line.get_label() == "Lowess")
    expected = lowess(y, p, frac=0.6, it=0, delta=0.01 * np.ptp(p), return_sorted=True)
    np.testing.assert_array_equal(drawn.get_ydata(), expected[:, 1])
    every_row = lowess(y, p, frac=0.6, it=0, return_sorted=True)
    assert np.max(np.abs(drawn.get_ydata() - every_row[:, 1])) < 2e-3
    plt.close(fig)


def test_schoenfeld_lowess_fits_locally_one_percent_of_the_time_range_apart(ax):
    """Would catch a local fit per event time (statsmodels' delta=0), quadratic in events."""
    from statsmodels.nonparametric.smoothers_lowess import lowess

    rng = np.random.default_rng(3)
    t, r = rng.uniform(0, 500, 3000), rng.normal(0.4, 1, 3000)
    plotting.plot_schoenfeld(pd.DataFrame({"time": t, "residual": r}), covariate="x", ax=ax, min_cell_count=0)
    drawn = next(line for line in ax.get_lines() if line.get_label() == "Lowess")
    np.testing.assert_array_equal(drawn.get_ydata(), lowess(r, t, frac=2 / 3, delta=0.01 * np.ptp(t))[:, 1])
