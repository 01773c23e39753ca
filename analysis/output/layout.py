"""Figure layout check: texts that overlap, texts that leave the canvas, legends that cover data.

A journal figure should need no retouching. After a figure is drawn (Agg renderer), every text
matplotlib will draw has a window extent in display pixels; :func:`figure_layout_problems`
compares them:

* ``overlap``: two visible, non-empty texts closer than :data:`MIN_GAP_PT` (titles, axis labels,
  tick labels, including two tick labels of one axis, annotations, legend texts, panel letters,
  colour-bar labels); rotated texts are compared as rotated rectangles, not their boxes;
* ``off_canvas``: a text whose extent leaves the figure;
* ``legend_over_data``: a legend whose extent covers data of its own axes: scatter points,
  the vertices of data lines (and points along their segments), bars and boxes.

:func:`check_figure_layout` raises :class:`FigureLayoutError` on any problem.
:func:`analysis.output.style.save_figure` runs the check on every figure it saves; the run
records the result in ``tables/figure_layout.csv`` (one row per figure with no problem, one row
per problem otherwise) and, when the environment variable ``ENDOIMMUNE_FIGURE_LAYOUT`` is
``raise`` (the test suite sets it), fails instead.

Only what matplotlib draws is checked: texts of hidden axes, of axes whose axis is off, and tick
labels outside the view limits are left out.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.core.exceptions import AnalysisError
from analysis.output.results import write_table

__all__ = [
    "LAYOUT_COLUMNS",
    "LAYOUT_ENV",
    "LAYOUT_FILE",
    "MIN_GAP_PT",
    "TOLERANCE_PX",
    "FigureLayoutError",
    "check_figure_layout",
    "figure_layout_problems",
    "layout_mode",
    "record_figure_layout",
]

#: Texts closer than this many points run into each other (a word space at 7 pt is about 2 pt; the
#: glyphs' own side bearings add a little more).
MIN_GAP_PT = 0.5

#: Overhangs off the canvas, and data under a legend's edge, of at most this many pixels are ignored.
TOLERANCE_PX = 1.0

#: Environment variable choosing what saving a figure with layout problems does.
LAYOUT_ENV = "ENDOIMMUNE_FIGURE_LAYOUT"

#: Columns of :func:`figure_layout_problems` (and of ``tables/figure_layout.csv`` after ``figure``).
LAYOUT_COLUMNS = ["problem", "artist", "other", "detail"]


class FigureLayoutError(AnalysisError):
    """A figure has overlapping texts, texts off the canvas or a legend over its data."""


def layout_mode() -> str:
    """Return what saving a figure with layout problems does: ``"record"`` (default) or ``"raise"``.

    Read from the environment variable :data:`LAYOUT_ENV`; any other value is an error.
    """
    mode = os.environ.get(LAYOUT_ENV, "record").strip().lower() or "record"
    if mode not in ("record", "raise"):
        raise ValueError(f"{LAYOUT_ENV} must be 'record' or 'raise', not {mode!r}")
    return mode


# --------------------------------------------------------------------------------------------
# what is drawn


def _describe(text, role: str) -> str:
    s = " ".join(text.get_text().split())
    return f"{role} {s[:40]!r}"


def _drawn_ticks(axis) -> list:
    """The ticks matplotlib draws: those inside the view interval (``Axis._update_ticks``)."""
    try:
        return list(axis._update_ticks())
    except AttributeError:  # pragma: no cover - a future matplotlib without the private method
        lo, hi = sorted(axis.get_view_interval())
        return [t for t in axis.get_major_ticks() if lo <= t.get_loc() <= hi]


def _axis_texts(axis, name: str) -> Iterator[tuple[object, str]]:
    if not axis.get_visible():
        return
    for tick in _drawn_ticks(axis):
        if not tick.get_visible():
            continue
        for label in (tick.label1, tick.label2):
            yield label, f"{name} tick label"
    yield axis.label, f"{name} label"
    yield axis.offsetText, f"{name} offset"


def _texts(artist, role: str = "") -> Iterator[tuple[object, str]]:
    """Every text the figure draws, with its role, walking the artist tree."""
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.legend import Legend
    from matplotlib.text import Text

    if not artist.get_visible():
        return
    if isinstance(artist, Text):
        yield artist, role or "text"
        return
    if isinstance(artist, Axis):
        yield from _axis_texts(artist, artist.axis_name)
        return
    if isinstance(artist, Legend):
        for child in artist.get_children():
            yield from _texts(child, "legend")
        return
    if isinstance(artist, Axes):
        for child in artist.get_children():
            if isinstance(child, Axis) and not artist.axison:
                continue
            if child is artist.title or child is artist._left_title or child is artist._right_title:
                yield from _texts(child, "title")
            else:
                yield from _texts(child, role)
        return
    for child in artist.get_children():
        yield from _texts(child, role)


def _visible_texts(fig, renderer) -> list[tuple[object, str, object]]:
    out = []
    seen = set()
    for text, role in _texts(fig):
        if id(text) in seen or not text.get_visible() or not text.get_text().strip():
            continue
        seen.add(id(text))
        bbox = text.get_window_extent(renderer)
        if bbox.width <= 0 or bbox.height <= 0 or not np.isfinite(bbox.bounds).all():
            continue
        out.append((text, role, bbox))
    return out


def _rectangle(text, bbox, renderer, pad_px: float) -> np.ndarray:
    """Corners (4 × 2, display pixels) of a text's rotated rectangle, grown by ``pad_px`` on each side.

    The window extent of a rotated text is the axis-aligned box around the rotated rectangle, far
    larger than the text at 45°; the rectangle itself has the unrotated size, turned by the
    rotation about the box's centre.
    """
    angle = float(text.get_rotation())
    if angle % 90 == 0:
        w, h = (bbox.width, bbox.height) if angle % 180 == 0 else (bbox.height, bbox.width)
    else:
        text.set_rotation(0)
        try:
            flat = text.get_window_extent(renderer)
        finally:
            text.set_rotation(angle)
        w, h = flat.width, flat.height
    theta = np.deg2rad(angle)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [(w / 2 + pad_px), (h / 2 + pad_px)]
    centre = np.array([(bbox.x0 + bbox.x1) / 2, (bbox.y0 + bbox.y1) / 2])
    return half @ rot.T + centre


def _penetration(a: np.ndarray, b: np.ndarray) -> float:
    """How far two convex polygons overlap (separating-axis theorem): the smallest overlap of their
    projections on the edge normals of both; 0 or less means they do not intersect."""
    depth = np.inf
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        for ex, ey in edges:
            norm = np.hypot(ex, ey)
            if norm == 0:
                continue
            axis = np.array([-ey, ex]) / norm
            pa, pb = a @ axis, b @ axis
            depth = min(depth, min(pa.max(), pb.max()) - max(pa.min(), pb.min()))
            if depth <= 0:
                return float(depth)
    return float(depth)


# --------------------------------------------------------------------------------------------
# data under legends


def _segment_points(xy: np.ndarray, step_px: float = 2.0) -> np.ndarray:
    """Vertices of a polyline in display space plus points every ``step_px`` along its segments."""
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) < 2:
        return xy
    pieces = [xy[:1]]
    for p, q in zip(xy[:-1], xy[1:]):
        n = int(min(np.hypot(*(q - p)) // step_px, 2000))
        if n > 0:
            t = np.linspace(0, 1, n + 2)[1:, None]
            pieces.append(p + t * (q - p))
        else:
            pieces.append(q[None, :])
    return np.vstack(pieces)


def _data_points(ax) -> list[tuple[str, np.ndarray]]:
    """Display coordinates of the data drawn in ``ax``: scatter offsets, data lines, patch corners."""
    from matplotlib.collections import PathCollection, PolyCollection
    from matplotlib.transforms import BlendedGenericTransform

    out = []
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection):
            offsets = np.asarray(coll.get_offsets(), float)
            if len(offsets):
                out.append(("points", coll.get_offset_transform().transform(offsets)))
        elif isinstance(coll, PolyCollection):
            # hexbin cells, filled bands: the cell centres (offsets) or the polygon vertices
            offsets = np.asarray(coll.get_offsets(), float)
            if len(offsets) > 1:
                out.append(("cells", coll.get_offset_transform().transform(offsets)))
            else:
                for path in coll.get_paths():
                    out.append(("area", coll.get_transform().transform(path.vertices)))
    for line in ax.lines:
        if not line.get_visible() or len(line.get_xydata()) == 0:
            continue
        if isinstance(line.get_transform(), BlendedGenericTransform) or any(
            isinstance(t, BlendedGenericTransform) for t in _transform_parts(line.get_transform())
        ):
            continue  # reference lines (axhline/axvline) span the axes; they are not data
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), float))
        if line.get_linestyle() in ("None", "none", "", " "):
            out.append(("points", xy))
        else:
            out.append(("line", _segment_points(xy)))
    for patch in ax.patches:
        if patch.get_visible():
            out.append(("bar", _patch_grid(patch)))
    return out


def _transform_parts(transform) -> list:
    parts = [transform]
    for attr in ("_a", "_b", "_child"):
        sub = getattr(transform, attr, None)
        if sub is not None:
            parts.extend(_transform_parts(sub))
    return parts


def _patch_grid(patch, n: int = 12) -> np.ndarray:
    """A grid of points filling a patch's extent (a bar or box hides the legend wherever it is)."""
    bb = patch.get_window_extent()
    if not np.isfinite(bb.bounds).all() or bb.width < 0 or bb.height < 0:
        return np.empty((0, 2))
    xs = np.linspace(bb.x0, bb.x1, n)
    ys = np.linspace(bb.y0, bb.y1, n)
    return np.array([(x, y) for x in xs for y in ys])


def _legend_problems(fig, renderer) -> list[dict]:
    rows = []
    for index, ax in enumerate(fig.axes, start=1):
        legend = ax.get_legend()
        if legend is None or not legend.get_visible() or not ax.get_visible():
            continue
        box = legend.get_window_extent(renderer)
        inner = box.padded(-TOLERANCE_PX)
        axbox = ax.get_window_extent(renderer)
        for kind, xy in _data_points(ax):
            if not len(xy):
                continue
            inside_ax = (
                (xy[:, 0] >= axbox.x0) & (xy[:, 0] <= axbox.x1) & (xy[:, 1] >= axbox.y0) & (xy[:, 1] <= axbox.y1)
            )
            covered = (
                inside_ax
                & (xy[:, 0] > inner.x0)
                & (xy[:, 0] < inner.x1)
                & (xy[:, 1] > inner.y0)
                & (xy[:, 1] < inner.y1)
            )
            if covered.any():
                title = legend.get_title().get_text() or ", ".join(t.get_text() for t in legend.get_texts()[:2])
                rows.append(
                    {
                        "problem": "legend_over_data",
                        "artist": f"legend {title[:40]!r}",
                        "other": f"{kind} of axes {index}" + (f" {ax.get_title()[:30]!r}" if ax.get_title() else ""),
                        "detail": "data under the legend",  # no count: the record is a table of the run
                    }
                )
    return rows


# --------------------------------------------------------------------------------------------
# the check


def figure_layout_problems(
    fig, *, min_gap_pt: float = MIN_GAP_PT, tolerance_px: float = TOLERANCE_PX, draw: bool = True
) -> pd.DataFrame:
    """Return the layout problems of a figure, one row each (none: an empty frame).

    The figure is drawn first (``fig.canvas.draw()``, Agg; see ``draw``), so the extents are those of the saved
    file at the figure's dpi.

    Parameters
    ----------
    fig : Figure
    min_gap_pt : float
        Two texts closer than this (points) count as overlapping: labels that touch read as one
        ("activated(n = 421)"). Rotated texts are compared as rotated rectangles.
    tolerance_px : float
        Texts leaving the canvas, and data under a legend's edge, by up to this many pixels are
        not reported.
    draw : bool
        Draw the figure first. :func:`analysis.output.style.save_figure` has drawn it already
        and passes False: one more draw would move a constrained layout by a hair, and the saved
        bytes would then depend on whether the check ran.

    Returns
    -------
    DataFrame
        Columns :data:`LAYOUT_COLUMNS`: ``problem`` (``overlap``, ``off_canvas``,
        ``legend_over_data``), ``artist`` and ``other`` (role and text of what is involved) and
        ``detail`` (size of the overlap in pixels, or the side the text leaves by).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> _ = ax.text(0.5, 0.5, "one"); _ = ax.text(0.5, 0.5, "two")
    >>> figure_layout_problems(fig)["problem"].tolist()
    ['overlap']
    >>> plt.close(fig)
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    if draw:
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = _visible_texts(fig, renderer)
    gap_px = min_gap_pt * fig.dpi / 72.0
    rects = [_rectangle(t, bb, renderer, gap_px / 2) for t, _, bb in texts]
    canvas = fig.bbox
    rows = []
    for i, (t, role, bb) in enumerate(texts):
        sides = [
            side
            for side, out in (
                ("left", canvas.x0 - bb.x0),
                ("right", bb.x1 - canvas.x1),
                ("bottom", canvas.y0 - bb.y0),
                ("top", bb.y1 - canvas.y1),
            )
            if out > tolerance_px
        ]
        if sides:
            rows.append(
                {
                    "problem": "off_canvas",
                    "artist": _describe(t, role),
                    "other": "",
                    "detail": "leaves the figure at the " + " and ".join(sides),
                }
            )
        for j in range(i + 1, len(texts)):
            u, role_u, bu = texts[j]
            if bb.x0 - bu.x1 > gap_px or bu.x0 - bb.x1 > gap_px or bb.y0 - bu.y1 > gap_px or bu.y0 - bb.y1 > gap_px:
                continue  # far apart: no need for the rotated rectangles
            depth = _penetration(rects[i], rects[j])
            if depth > 0:
                rows.append(
                    {
                        "problem": "overlap",
                        "artist": _describe(t, role),
                        "other": _describe(u, role_u),
                        "detail": f"{gap_px - depth:.1f} px apart (less than {min_gap_pt:g} pt)"
                        if depth <= gap_px
                        else f"overlap {depth - gap_px:.1f} px",
                    }
                )
    rows.extend(_legend_problems(fig, renderer))
    return pd.DataFrame(rows, columns=LAYOUT_COLUMNS)


def check_figure_layout(fig, name: str = "figure", *, problems: pd.DataFrame | None = None) -> None:
    """Raise :class:`FigureLayoutError` listing every layout problem of ``fig`` (none: return None).

    ``problems``, when given, is the figure's :func:`figure_layout_problems` already computed.
    """
    problems = figure_layout_problems(fig) if problems is None else problems
    if len(problems):
        lines = [
            f"{r.problem}: {r.artist}{' / ' + r.other if r.other else ''} ({r.detail})" for r in problems.itertuples()
        ]
        raise FigureLayoutError(f"figure {name!r} has {len(problems)} layout problem(s):\n  " + "\n  ".join(lines))


#: File of a run's ``tables/`` recording the layout check of every figure it saved.
LAYOUT_FILE = "figure_layout.csv"


def record_figure_layout(problems: pd.DataFrame, figure: str, tables_dir: str | os.PathLike) -> Path:
    """Replace the rows of ``figure`` in ``tables/figure_layout.csv`` with its check's result.

    A figure without problems gets one row with ``problem = "none"``, so the file lists every
    figure the run saved. Notebooks running side by side share the file under an exclusive lock;
    rows are sorted by figure, so its bytes do not depend on who wrote first.

    Parameters
    ----------
    problems : DataFrame
        :func:`figure_layout_problems` of the figure.
    figure : str
        The figure's file stem (``figure_2_landscape``).
    tables_dir : path
        The run's ``tables/`` folder.

    Returns
    -------
    Path
    """
    path = Path(tables_dir) / LAYOUT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["figure", *LAYOUT_COLUMNS]
    new = problems.reindex(columns=LAYOUT_COLUMNS)
    if new.empty:
        new = pd.DataFrame([{"problem": "none", "artist": "", "other": "", "detail": ""}])
    new = new.assign(figure=figure)[columns]
    with open(path.with_name(LAYOUT_FILE + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = pd.read_csv(path, dtype=str, keep_default_na=False) if path.exists() else pd.DataFrame(columns=columns)
        merged = pd.concat([old[old["figure"] != figure], new], ignore_index=True)
        return write_table(merged.sort_values("figure", kind="stable"), path)
