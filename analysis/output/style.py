"""Figure style: the one place for sizes, fonts, colours, labels and saving figures.

Every figure in the suite takes its look from this module, so manuscripts get the same fonts,
line weights and colours everywhere: an arm or a profile has one colour in every figure.

* Sizes follow journal column widths (:data:`WIDTHS_MM`); :func:`figure_size` converts to inches.
* Colours are the Okabe–Ito colour-blind-safe palette [OI]; :data:`ARM_COLORS`,
  :data:`PROFILE_COLORS` and :data:`GROUP_COLORS` fix one colour per level.
* :func:`apply_style` (or the :func:`style_context` context manager) sets the rcParams:
  sans-serif 7 pt text (titles 8 pt, panel letters 9 pt bold), thin axes, no top/right spines,
  TrueType (Type 42) fonts in PDF/PS and real ``<text>`` elements in SVG so text stays editable.
* :func:`save_figure` writes PDF, SVG and PNG with byte-for-byte reproducible output.

Matplotlib is imported inside the functions, so the constants (colours, labels, sizes) can be
imported without it.

[OI] Okabe M, Ito K. Color Universal Design (CUD): how to make figures and presentations that are
friendly to colorblind people. 2008. https://jfly.uni-koeln.de/color/
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from analysis.output import layout, preview

MM_PER_INCH = 25.4

#: Journal figure widths in millimetres (single column, 1.5 column, full page width).
WIDTHS_MM = {"single": 89, "onehalf": 120, "double": 183}

#: The Okabe–Ito palette (plus its usual neutral grey).
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#999999",
}

#: One colour per treatment arm; "none" is the neutral reference.
ARM_COLORS = {
    "none": OKABE_ITO["grey"],
    "empirical": OKABE_ITO["orange"],
    "personalized": OKABE_ITO["blue"],
}

#: One colour per immune profile (disjoint from the arm colours).
PROFILE_COLORS = {
    "balanced": OKABE_ITO["bluish_green"],
    "over_activated": OKABE_ITO["vermillion"],
    "under_activated": OKABE_ITO["sky_blue"],
    "mixed": OKABE_ITO["reddish_purple"],
}

#: Colour of a profile that could not be determined (markers missing): grey, not a profile colour.
INDETERMINATE_COLORS = {"indeterminate": OKABE_ITO["grey"]}

#: One colour per profile group; "balanced" is the same colour as the balanced profile.
GROUP_COLORS = {
    "balanced": PROFILE_COLORS["balanced"],
    "dysregulated": OKABE_ITO["black"],
}

#: Colours for levels that are none of the above, used in this order.
FALLBACK_COLORS = (
    OKABE_ITO["blue"],
    OKABE_ITO["orange"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["black"],
    OKABE_ITO["grey"],
)

#: Neutral colour for reference lines, cut-offs and single-colour bars.
NEUTRAL_COLOR = "#4D4D4D"

ARM_LABELS = {"none": "No immunotherapy", "empirical": "Empirical", "personalized": "Personalized"}
PROFILE_LABELS = {
    "balanced": "Balanced",
    "over_activated": "Over-activated",
    "under_activated": "Under-activated",
    "mixed": "Mixed",
    "indeterminate": "Indeterminate",
}
GROUP_LABELS = {"balanced": "Balanced", "dysregulated": "Dysregulated", "overall": "Overall"}

#: Axis labels of the markers (with units).
MARKER_LABELS = {
    "il15_fn14_ratio": "IL-15/Fn-14 mRNA ratio",
    "il18_tweak_ratio": "IL-18/TWEAK mRNA ratio",
    "unk_cd56_percent": "uNK CD56+ (% of stromal cells)",
    "cd138_per_hpf": "CD138+ cells per HPF",
    "blood_nk_percent": "Blood NK (% of lymphocytes)",
    "blood_th1_th2_ratio": "Blood Th1/Th2 ratio",
}

#: Short marker names for crowded axes (heatmaps).
MARKER_SHORT_LABELS = {
    "il15_fn14_ratio": "IL-15/Fn-14",
    "il18_tweak_ratio": "IL-18/TWEAK",
    "unk_cd56_percent": "uNK CD56+",
    "cd138_per_hpf": "CD138+",
    "blood_nk_percent": "Blood NK",
    "blood_th1_th2_ratio": "Blood Th1/Th2",
}

BASE_FONT_SIZE = 7
TITLE_FONT_SIZE = 8
PANEL_LETTER_SIZE = 9
#: Panel letter position: offset from the axes' top-left corner, in points (same in every figure).
PANEL_LETTER_OFFSET_PT = (-24.0, 6.0)
#: Fixed salt for SVG element ids, so SVG output is reproducible.
RASTERIZE_POINTS_ABOVE = 2000
"""Scatter collections with more points than this are drawn as an image inside PDF and SVG files.

A vector file with tens of thousands of markers is slow to write (seconds per figure at 100k
transfers) and slower to open, and a reader cannot tell the markers apart anyway; the axes, texts
and lines stay vectors. The image has the figure's resolution (``dpi``). Below the threshold,
as on the shipped cohort, nothing changes.
"""

SVG_HASHSALT = "endoimmune"

#: File metadata that would otherwise carry the date (PDF, SVG) or a version string (PNG).
_METADATA = {
    "pdf": {"CreationDate": None, "ModDate": None},
    "svg": {"Date": None},
    "png": {"Software": None},
}


def figure_size(width: str | float = "single", aspect: float = 0.75) -> tuple[float, float]:
    """Return a figure size in inches for a journal column width.

    Parameters
    ----------
    width : {"single", "onehalf", "double"} or float
        A key of :data:`WIDTHS_MM` or a width in millimetres.
    aspect : float
        Height divided by width.

    Returns
    -------
    tuple of float
        ``(width_in, height_in)``, for ``plt.figure(figsize=...)``.

    Examples
    --------
    >>> [round(v, 2) for v in figure_size("double", aspect=0.5)]
    [7.2, 3.6]
    """
    if isinstance(width, str):
        if width not in WIDTHS_MM:
            raise ValueError(f"unknown width {width!r}; known: {sorted(WIDTHS_MM)} or a number in mm")
        width_mm = WIDTHS_MM[width]
    else:
        width_mm = float(width)
    if width_mm <= 0 or aspect <= 0:
        raise ValueError("width and aspect must be positive")
    w_in = width_mm / MM_PER_INCH
    return (w_in, w_in * aspect)


def color_for(level, index: int = 0) -> str:
    """Return the fixed colour of an arm, profile or profile group.

    Levels that are none of these get ``FALLBACK_COLORS[index]`` (cycled).
    """
    key = str(level)
    for table in (ARM_COLORS, PROFILE_COLORS, GROUP_COLORS, INDETERMINATE_COLORS):
        if key in table:
            return table[key]
    return FALLBACK_COLORS[index % len(FALLBACK_COLORS)]


def colors_for(levels: Iterable) -> dict:
    """Map each level to :func:`color_for`; unknown levels get distinct fallback colours."""
    known = set(ARM_COLORS) | set(PROFILE_COLORS) | set(GROUP_COLORS) | set(INDETERMINATE_COLORS)
    levels = list(dict.fromkeys(levels))
    taken = {color_for(v) for v in levels if str(v) in known}
    spare = [c for c in FALLBACK_COLORS if c not in taken] or list(FALLBACK_COLORS)
    out, i = {}, 0
    for v in levels:
        if str(v) in known:
            out[v] = color_for(v)
        else:
            out[v] = spare[i % len(spare)]
            i += 1
    return out


def label_for(level) -> str:
    """Return the display name of an arm, profile, group or marker (other values unchanged)."""
    key = str(level)
    for table in (ARM_LABELS, PROFILE_LABELS, GROUP_LABELS, MARKER_LABELS):
        if key in table:
            return table[key]
    return key


def rc_params() -> dict:
    """Return the rcParams of the suite's figure style (see :func:`apply_style`)."""
    return {
        # Text: sans-serif; Arial/Helvetica when installed, DejaVu Sans otherwise.
        "font.family": "sans-serif",
        "font.sans-serif": ["Arial", "Helvetica", "DejaVu Sans"],
        "mathtext.default": "regular",
        "font.size": BASE_FONT_SIZE,
        "axes.titlesize": TITLE_FONT_SIZE,
        "axes.titleweight": "normal",
        "axes.labelsize": BASE_FONT_SIZE,
        "xtick.labelsize": BASE_FONT_SIZE,
        "ytick.labelsize": BASE_FONT_SIZE,
        "legend.fontsize": BASE_FONT_SIZE,
        "legend.title_fontsize": BASE_FONT_SIZE,
        "figure.titlesize": TITLE_FONT_SIZE,
        # Thin lines, no top/right spines, no grid, no legend frame.
        "axes.linewidth": 0.6,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": False,
        "axes.titlepad": 4.0,
        "axes.labelpad": 2.5,
        "axes.prop_cycle": _cycler(),
        "xtick.major.width": 0.6,
        "ytick.major.width": 0.6,
        "xtick.minor.width": 0.4,
        "ytick.minor.width": 0.4,
        "xtick.major.size": 3.0,
        "ytick.major.size": 3.0,
        "xtick.minor.size": 1.5,
        "ytick.minor.size": 1.5,
        "xtick.major.pad": 2.0,
        "ytick.major.pad": 2.0,
        "lines.linewidth": 1.0,
        "lines.markersize": 3.0,
        "patch.linewidth": 0.6,
        "legend.frameon": False,
        "legend.handlelength": 1.6,
        "legend.borderaxespad": 0.3,
        # Size and layout: single column by default; constrained layout keeps labels inside.
        "figure.figsize": figure_size("single"),
        "figure.constrained_layout.use": True,
        "figure.dpi": 100,  # inline viewing
        "savefig.dpi": 300,
        "savefig.facecolor": "white",
        "savefig.transparent": False,
        # Editable text: TrueType (Type 42) fonts in PDF/PS, not Type 3 bitmaps-as-outlines;
        # SVG "none" writes text as <text> elements (editable in Illustrator/Inkscape; the
        # viewer substitutes the font if it lacks Arial/Helvetica/DejaVu Sans).
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "svg.fonttype": "none",
        "svg.hashsalt": SVG_HASHSALT,
        "image.cmap": "cividis",
    }


def _cycler():
    from cycler import cycler

    return cycler(color=list(FALLBACK_COLORS))


def apply_style() -> None:
    """Set matplotlib's rcParams to the suite's figure style, for the rest of the session.

    Sans-serif text (Arial, Helvetica, then DejaVu Sans) at 7 pt, titles 8 pt, thin axes lines,
    no top/right spines, constrained layout, ``savefig.dpi`` 300, ``figure.dpi`` 100,
    TrueType fonts in PDF/PS (``pdf.fonttype = ps.fonttype = 42``), SVG text kept as text
    (``svg.fonttype = "none"``) and a fixed ``svg.hashsalt``.

    See Also
    --------
    style_context : the same, undone on leaving a ``with`` block.
    """
    import matplotlib as mpl

    mpl.rcParams.update(rc_params())


@contextlib.contextmanager
def style_context() -> Iterator[None]:
    """Context manager applying the suite's style inside a ``with`` block only.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> with style_context():
    ...     fig, ax = plt.subplots(figsize=figure_size("single"))
    >>> plt.close(fig)
    """
    import matplotlib as mpl

    with mpl.rc_context(rc=rc_params()):
        yield


def add_panel_letter(ax, letter: str, *, offset_pt: tuple[float, float] = PANEL_LETTER_OFFSET_PT):
    """Put a bold lowercase panel letter outside the top-left corner of ``ax``.

    The letter is anchored at the axes' top-left corner and shifted by a fixed offset in
    points, so it sits at the same place relative to the axes in every figure whatever the
    figure's size.

    Parameters
    ----------
    ax : Axes
    letter : str
        Panel letter; it is lower-cased.
    offset_pt : tuple of float
        ``(dx, dy)`` from the axes' top-left corner, in points.

    Returns
    -------
    Annotation
        The letter's text artist.
    """
    return ax.annotate(
        str(letter).lower(),
        xy=(0.0, 1.0),
        xycoords="axes fraction",
        xytext=offset_pt,
        textcoords="offset points",
        ha="left",
        va="bottom",
        fontsize=PANEL_LETTER_SIZE,
        fontweight="bold",
        annotation_clip=False,
    )


def legend_beside(ax, **kwargs):
    """Put the legend of ``ax`` outside its right edge, top-aligned, where it cannot cover data.

    A legend inside the axes ("best", "upper left") covers points or curves on some cohort or
    other; beside the axes it never does, and constrained layout makes room for it. Keyword
    arguments go to :meth:`~matplotlib.axes.Axes.legend`.

    Returns
    -------
    Legend
    """
    options = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0, "frameon": False}
    options.update(kwargs)
    return ax.legend(**options)


def legend_on_last(axes) -> None:
    """Keep the legend of the last of ``axes`` only: panels that share one legend show it once."""
    axes = list(axes)
    for ax in axes[:-1]:
        if ax.get_legend() is not None:
            ax.get_legend().remove()


def save_figure(
    fig,
    name: str,
    out_dir: str | os.PathLike,
    formats: Iterable[str] = ("pdf", "svg", "png"),
    dpi: int = 300,
    layout_record: str | os.PathLike | None = None,
) -> list[Path]:
    """Save a figure in several formats with reproducible bytes, after checking its layout.

    Dates and version strings are left out of the file metadata and SVG ids use a fixed salt,
    so saving the same figure twice gives identical files. Scatter collections of more than
    :data:`RASTERIZE_POINTS_ABOVE` points are embedded as an image in vector formats. Each file is written under a
    temporary name and renamed, so a reader never sees half a file. The figure is not closed.

    Parameters
    ----------
    fig : Figure
    name : str
        File stem (no extension).
    out_dir : str or path
        Folder to write into; created if needed.
    formats : iterable of str
        Any of ``"pdf"``, ``"svg"``, ``"png"`` (other matplotlib formats are saved without
        metadata control).
    dpi : int
        Resolution of raster output (PNG) and of images embedded in vector output.
    layout_record : str or path, optional
        A run's ``tables/`` folder: the layout check's result is recorded in its
        ``figure_layout.csv`` (:func:`analysis.output.layout.record_figure_layout`).

    Returns
    -------
    list of Path
        The files written, in the order of ``formats``.

    Raises
    ------
    FigureLayoutError
        When the environment variable ``ENDOIMMUNE_FIGURE_LAYOUT`` is ``raise`` (as in the
        runner's tests) and the figure has overlapping texts, texts off the canvas or a legend over its
        data (:func:`analysis.output.layout.figure_layout_problems`); nothing is written then.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    # The layout is drawn until it settles and then held still while the files are written: a
    # constrained layout with fixed-aspect or inset axes moves by ever smaller steps on each draw,
    # so without this the bytes would depend on how often the figure had been drawn before.
    _settle_layout(fig)
    mode = layout.layout_mode()
    problems = layout.figure_layout_problems(fig, draw=False)
    if layout_record is not None:
        layout.record_figure_layout(problems, name, layout_record)
    if mode == "raise" and len(problems):
        layout.check_figure_layout(fig, name, problems=problems)
    engine = fig.get_layout_engine()
    if engine is not None:
        fig.set_layout_engine("none")
        for ax in fig.axes:  # the settled positions, rounded: the same bytes however many draws came before
            if ax.get_axes_locator() is None:
                ax.set_position([round(float(v), 9) for v in ax.get_position(original=True).bounds], which="original")
    dense = [
        c
        for ax in fig.axes
        for c in ax.collections
        if not c.get_rasterized() and len(c.get_offsets()) > RASTERIZE_POINTS_ABOVE
    ]
    for collection in dense:
        collection.set_rasterized(True)
    png = None
    try:
        png = _write_formats(fig, name, out_dir, formats, dpi, paths)
    finally:
        for collection in dense:
            collection.set_rasterized(False)
        if engine is not None:
            fig.set_layout_engine(engine)
    if png is not None:
        # Saving marks the figure stale (its dpi and layout engine were set and put back), though
        # it shows what was just written; unmarked, a later change or draw still ends the
        # preview (analysis.output.preview). An earlier save's preview ended at this save's
        # first draw.
        preview.show_preview(fig, png)
        fig.stale = False
    return paths


def _settle_layout(fig, max_draws: int = 30, atol: float = 1e-10) -> None:
    """Draw ``fig`` until no axes moves by more than ``atol`` (figure fraction), at most ``max_draws`` times."""
    import numpy as np

    last = None
    for _ in range(max_draws):
        fig.draw_without_rendering()
        now = np.array([ax.get_position().bounds for ax in fig.axes], float).reshape(-1, 4)
        if last is not None and now.shape == last.shape and np.allclose(now, last, rtol=0, atol=atol):
            return
        last = now


def _write_formats(fig, name, out_dir, formats, dpi, paths) -> str | None:
    """Write each format of ``fig``; return the notebook preview made from its PNG, if any."""
    import matplotlib as mpl

    png = None
    with mpl.rc_context({"svg.hashsalt": SVG_HASHSALT}):
        for fmt in formats:
            fmt = fmt.lower().lstrip(".")
            path = out_dir / f"{name}.{fmt}"
            tmp = out_dir / f".{name}.{fmt}.{os.getpid()}.tmp"
            kwargs = {"format": fmt, "dpi": dpi}
            if fmt in _METADATA:
                kwargs["metadata"] = dict(_METADATA[fmt])
            try:
                if fmt == "png" and preview.previews_wanted():
                    png = _write_png_and_preview(fig, tmp, dpi, kwargs["metadata"])
                else:
                    fig.savefig(tmp, **kwargs)
                os.replace(tmp, path)
            finally:
                if tmp.exists():
                    tmp.unlink()
            paths.append(path)
    return png


def _write_png_and_preview(fig, path, dpi, metadata) -> str | None:
    """Write ``fig`` as PNG from one raster, and return that raster's preview for the notebook.

    The pixels are drawn once (``savefig`` to raw RGBA) and written by :func:`matplotlib.image.imsave`,
    as ``savefig(format="png")`` itself does, so the file is the same bytes; the notebook's
    preview is made from the same pixels instead of drawing the figure again.
    """
    import io

    import numpy as np
    from matplotlib import image

    raw = io.BytesIO()
    fig.savefig(raw, format="rgba", dpi=dpi)
    # Agg's canvas is the figure's size in pixels, truncated (FigureCanvasAgg.get_renderer).
    width, height = int(fig.get_figwidth() * dpi), int(fig.get_figheight() * dpi)
    if raw.getbuffer().nbytes != 4 * width * height:  # not Agg's arithmetic: the ordinary way
        fig.savefig(path, format="png", dpi=dpi, metadata=metadata)
        return None
    rgba = np.frombuffer(raw.getbuffer(), np.uint8).reshape(height, width, 4)
    image.imsave(path, rgba, format="png", dpi=dpi, metadata=metadata)
    return preview.preview_png(fig, rgba, dpi)
