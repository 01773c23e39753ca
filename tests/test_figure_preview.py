"""Notebook previews of saved figures (analysis.output.preview).

A notebook shows a saved figure from the PNG's own pixels instead of drawing it again; these
tests check that the picture shown is the saved picture, that a figure changed after saving is
drawn afresh (never an outdated picture), that the PNG file is the same bytes either way, and
that nothing changes outside IPython or when the notebook shows figures some other way.
"""

from __future__ import annotations

import base64
import functools
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.core.pylabtools import print_figure  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from analysis.output import preview, style  # noqa: E402


@pytest.fixture(autouse=True)
def _style():
    with style.style_context():
        yield
    plt.close("all")


@pytest.fixture
def shell():
    """An IPython shell whose PNG printer for figures is the inline backend's (plain ``print_figure``)."""
    shell = InteractiveShell.instance()
    formatter = shell.display_formatter.formatters["image/png"]
    formatter.for_type(Figure, functools.partial(print_figure, fmt="png", base64=True, bbox_inches="tight"))
    try:
        yield shell
    finally:
        formatter.type_printers.pop(Figure, None)
        InteractiveShell.clear_instance()


def _figure():
    fig, axes = plt.subplots(1, 2, figsize=style.figure_size("double", aspect=0.4))
    rng = np.random.default_rng(3)
    axes[0].plot(np.arange(20), rng.normal(size=20), label="a")
    axes[1].scatter(rng.normal(size=200), rng.normal(size=200), s=4)
    axes[0].set_title("Panel")
    style.legend_beside(axes[0])
    return fig


def _drawn(fig) -> Image.Image:
    """The picture IPython's own inline printer draws for ``fig`` (cropped to its tight box)."""
    return Image.open(io.BytesIO(base64.b64decode(print_figure(fig, "png", base64=True, bbox_inches="tight"))))


def _shown(shell, fig) -> Image.Image:
    """The picture the notebook would show for ``fig`` (its PNG printer's output)."""
    data = shell.display_formatter.formatters["image/png"](fig)
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_a_saved_figure_is_shown_from_its_saved_png(shell, tmp_path):
    fig = _figure()
    style.save_figure(fig, "f", tmp_path, formats=("png", "pdf"), dpi=300)
    assert preview.has_preview(fig)
    shown = _shown(shell, fig)
    saved = Image.open(tmp_path / "f.png")
    # the saved 300-dpi pixels averaged in 3 x 3 blocks: the figure's 100-dpi screen size
    assert abs(shown.size[0] - fig.get_figwidth() * fig.dpi) <= 1
    assert abs(shown.size[1] - fig.get_figheight() * fig.dpi) <= 1
    np.testing.assert_array_equal(np.asarray(shown), np.asarray(saved.reduce(3)))
    # IPython's own printer draws it again, cropped to its tight box: another picture
    drawn = _drawn(fig)
    assert drawn.size != shown.size


def test_a_figure_changed_after_saving_is_drawn_afresh(shell, tmp_path):
    fig = _figure()
    style.save_figure(fig, "f", tmp_path, formats=("png",), dpi=300)
    before = np.asarray(_shown(shell, fig))
    fig.axes[0].set_title("Changed after saving")
    assert not preview.has_preview(fig)
    after = _shown(shell, fig)
    expected = _drawn(fig)
    np.testing.assert_array_equal(np.asarray(after), np.asarray(expected))
    assert np.asarray(after).shape != before.shape or not np.array_equal(np.asarray(after), before)


def test_png_file_is_the_same_bytes_with_and_without_a_preview(shell, tmp_path):
    fig = _figure()
    style.save_figure(fig, "with", tmp_path, formats=("png",), dpi=300)
    assert preview.has_preview(fig)
    shell.display_formatter.formatters["image/png"].type_printers.pop(Figure)
    fig2 = _figure()
    style.save_figure(fig2, "without", tmp_path, formats=("png",), dpi=300)
    assert not preview.has_preview(fig2)
    assert (tmp_path / "with.png").read_bytes() == (tmp_path / "without.png").read_bytes()


def test_no_preview_outside_ipython_or_for_other_inline_formats(tmp_path):
    assert not preview.previews_wanted()  # no shell
    fig = _figure()
    style.save_figure(fig, "f", tmp_path, formats=("png",), dpi=300)
    assert not preview.has_preview(fig)
    shell = InteractiveShell.instance()
    try:
        formatter = shell.display_formatter.formatters["image/png"]
        retina = functools.partial(print_figure, fmt="retina", base64=True, bbox_inches="tight")
        formatter.for_type(Figure, retina)
        assert not preview.previews_wanted()
        assert formatter.type_printers[Figure] is retina  # left as the notebook set it
        formatter.type_printers.pop(Figure)
        assert not preview.previews_wanted()  # figures not shown as PNG at all (e.g. SVG)
    finally:
        InteractiveShell.clear_instance()


def test_no_preview_when_the_saved_resolution_is_not_a_whole_multiple(shell, tmp_path):
    fig = _figure()
    style.save_figure(fig, "f", tmp_path, formats=("png",), dpi=250)  # figure.dpi 100: factor 2.5
    assert not preview.has_preview(fig)
    shown = _shown(shell, fig)  # drawn by IPython's printer as before
    expected = _drawn(fig)
    assert shown.size == expected.size


def test_a_notebook_kernel_shows_the_saved_png_and_redraws_a_changed_figure(tmp_path):
    """End to end in a Jupyter kernel with the inline backend (as in the runner's notebooks): the
    figure shown under the saving cell is the saved PNG reduced to 100 dpi; shown again after a
    change, it is drawn afresh."""
    import os

    from jupyter_client.manager import start_new_kernel

    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the tests' Agg would show nothing
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))

    def images(code):
        msg_id = kc.execute(code)
        found, errors = [], []
        while True:
            msg = kc.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind in ("display_data", "execute_result") and "image/png" in content["data"]:
                found.append(Image.open(io.BytesIO(base64.b64decode(content["data"]["image/png"]))))
            if kind == "error":
                errors.append(content["evalue"])
            if kind == "status" and content["execution_state"] == "idle":
                assert not errors, errors
                return found

    try:
        shown = images(
            "import matplotlib.pyplot as plt\n"
            "from analysis.output import style\n"
            "style.apply_style()\n"
            "fig, ax = plt.subplots(figsize=(3.5, 2.4))\n"
            "ax.plot([0, 1, 2], [1, 3, 2]); ax.set_title('Saved')\n"
            f"style.save_figure(fig, 'f', {str(tmp_path)!r}, formats=('png', 'svg'))\n"
        )  # shown by the inline backend at the cell's end
        again = images("fig.axes[0].set_title('Changed after saving')\nfig")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    saved = Image.open(tmp_path / "f.png")
    assert len(shown) == 1
    np.testing.assert_array_equal(np.asarray(shown[0]), np.asarray(saved.reduce(3)))
    assert len(again) == 1 and np.asarray(again[0]).shape != np.asarray(shown[0]).shape  # drawn: tight box


def test_a_figure_drawn_after_saving_is_drawn_afresh_even_when_no_longer_stale(shell, tmp_path):
    """A draw clears matplotlib's stale mark, so a change followed by a draw (``canvas.draw()``,
    as a widget backend or a text-extent computation does) would look unchanged: the draw itself
    ends the preview."""
    fig = _figure()
    style.save_figure(fig, "f", tmp_path, formats=("png",), dpi=300)
    fig.axes[0].set_title("Changed, then drawn")
    fig.canvas.draw()
    assert not fig.stale and not preview.has_preview(fig)
    shown = _shown(shell, fig)
    expected = _drawn(fig)
    np.testing.assert_array_equal(np.asarray(shown), np.asarray(expected))


def test_a_second_save_without_png_ends_the_first_saves_preview(shell, tmp_path):
    fig = _figure()
    style.save_figure(fig, "f", tmp_path, formats=("png",), dpi=300)
    assert preview.has_preview(fig)
    fig.axes[0].set_title("Saved again as PDF only")
    style.save_figure(fig, "g", tmp_path, formats=("pdf",), dpi=300)
    assert not preview.has_preview(fig)
