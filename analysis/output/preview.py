"""Notebook previews of saved figures: the saved PNG's pixels, not a second drawing.

A figure in a notebook is drawn once more after it was saved: IPython's inline backend renders
it again (at screen resolution, cropped) to show it under the cell; for the suite's figures that
second drawing costs 0.15–0.3 s each. When
:func:`analysis.output.style.save_figure` writes a PNG inside IPython, it keeps a preview
instead: the saved raster reduced to the figure's screen resolution (``figure.dpi``) by averaging
blocks of pixels. The notebook then shows exactly the picture that was written to
``figures/<name>.png``.

A preview is shown only while the figure is unchanged since it was saved. Matplotlib marks a
figure *stale* whenever one of its artists changes, and a draw clears the mark; so a preview is
dropped at the figure's first draw after the save, and a figure that is stale or was drawn since
(a title set afterwards, limits changed, anything) is drawn the ordinary way: a notebook never
shows an outdated picture. Outside IPython, or when the notebook shows figures as SVG or at
retina resolution, nothing changes: no preview is made and figures display as matplotlib draws
them.
"""

from __future__ import annotations

import base64
import functools
import io
import weakref

#: Previews of saved figures, as base64 PNG, by figure; a figure's entry goes with the figure.
_PREVIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: The draw-event connection that drops a figure's preview, by figure.
_WATCHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _SavedFigurePrinter:
    """IPython's PNG printer for figures: a figure's preview when it has one and is unchanged.

    Parameters
    ----------
    fallback : callable
        The printer it replaced (IPython's ``print_figure``), used for every other figure.
    """

    def __init__(self, fallback):
        self.fallback = fallback

    def __call__(self, fig):
        if has_preview(fig):
            return _PREVIEWS[fig]
        return self.fallback(fig)


def _png_formatter():
    """Return the running IPython shell's PNG formatter, or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    shell = get_ipython()
    if shell is None:
        return None
    return shell.display_formatter.formatters.get("image/png")


def previews_wanted() -> bool:
    """Return True when figures in this session are shown as plain PNG by IPython's inline printer.

    Installs the preview printer in front of that printer on the first call that finds it (the
    inline backend registers its printer when the first figure is created, and again whenever it
    is reconfigured, so this is checked at each save). False outside IPython, and when the
    notebook shows figures in another way (SVG, retina PNG, a widget backend): those are left
    as they are.
    """
    formatter = _png_formatter()
    if formatter is None:
        return False
    from matplotlib.figure import Figure

    current = formatter.type_printers.get(Figure)
    if isinstance(current, _SavedFigurePrinter):
        return True
    if not _is_plain_png_printer(current):
        return False
    formatter.for_type(Figure, _SavedFigurePrinter(current))
    return True


def _is_plain_png_printer(printer) -> bool:
    """True for IPython's ``print_figure`` bound to PNG output (what the inline backend registers)."""
    from IPython.core.pylabtools import print_figure

    return (
        isinstance(printer, functools.partial)
        and printer.func is print_figure
        and printer.keywords.get("fmt") == "png"
        and not printer.args
    )


def preview_png(fig, rgba, dpi: float) -> str | None:
    """Return the preview of ``fig`` from its saved raster ``rgba`` (rows × columns × 4, at ``dpi``).

    The raster is reduced by the whole factor ``dpi / fig.dpi`` (pixel blocks averaged by
    Pillow's ``reduce``); for a factor that is not a whole number there is no preview, and the
    figure is drawn as usual when shown.

    Parameters
    ----------
    fig : Figure
    rgba : numpy.ndarray
        The saved PNG's pixels, uint8, shape ``(height, width, 4)``.
    dpi : float
        Resolution of ``rgba``.

    Returns
    -------
    str or None
        The preview as base64 PNG (what IPython's printer returns), or None.
    """
    from PIL import Image

    factor = float(dpi) / float(fig.dpi)
    if factor < 1 or abs(factor - round(factor)) > 1e-9:
        return None
    image = Image.fromarray(rgba)
    if round(factor) > 1:
        image = image.reduce(int(round(factor)))
    buffer = io.BytesIO()
    image.save(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def show_preview(fig, png: str | None) -> None:
    """Show ``fig`` from ``png`` (:func:`preview_png`) until it changes or is drawn again; None forgets it.

    Called once the figure is saved and put back as it was: a draw from then on (the user's, or
    matplotlib's for any reason) drops the preview, since a draw also clears the stale mark that
    would have told of a change.
    """
    old = _WATCHES.pop(fig, None)
    if old is not None:
        fig.canvas.mpl_disconnect(old)
    _PREVIEWS.pop(fig, None)
    if png is not None:
        _PREVIEWS[fig] = png
        _WATCHES[fig] = fig.canvas.mpl_connect("draw_event", _forget_on_draw)


def _forget_on_draw(event) -> None:
    show_preview(event.canvas.figure, None)


def has_preview(fig) -> bool:
    """Return True when ``fig`` has a preview and is unchanged since it was saved."""
    return fig in _PREVIEWS and not fig.stale
