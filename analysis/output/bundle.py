"""The submission bundle of a run: one zip with what a journal asks for, and nothing row-level.

:func:`write_bundle` packs, from a finished run folder:

- ``figures/``: each main figure as PDF (vector, as saved) and as TIFF at the journal's
  resolution. The TIFF is the run's PNG converted by Pillow (RGB on white, LZW), downsampled
  when the PNG is finer than asked; a PNG coarser than asked is refused (upsampling would
  pretend a resolution the figure never had: rerun with ``-p figure_dpi=<dpi>``);
- ``supplement.docx``: the supplementary figures and the supplementary publication tables, each
  with its caption;
- ``tables/``: the main publication tables (Word and HTML);
- the reporting checklists, the Results draft with its keys, ``report.html`` and the run's
  ``manifest.json``;
- ``bundle_manifest.json``: every other file of the zip with its size and SHA-256.

Author guidelines commonly ask for TIFF of at least 300 dpi for colour and greyscale (halftone)
images and 600 dpi or more for line art (e.g. the AALAS journals' figure preparation guide;
Elsevier-style guides ask 300 / 500 / 1000 dpi for halftones / combinations / line art), hence
``dpi`` as a parameter. The run's ``interim/`` folder (the derived cohort, patient-level) and
any other patient-level file are never packed; :func:`write_bundle` checks it before writing.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import zipfile
from pathlib import Path

import pandas as pd

from analysis.core.exceptions import RunError
from analysis.output.checklist_items import GUIDELINES
from analysis.output.checklists import check_checklists, write_checklists
from analysis.output.results_draft import DOCX_FILE, KEYS_FILE, MD_FILE, check_results_draft, write_results_draft
from analysis.output.wordfiles import document_bytes, new_document

__all__ = ["BUNDLE_MANIFEST", "DEFAULT_DPI", "supplement_document", "tiff_from_png", "write_bundle"]

DEFAULT_DPI = 300
BUNDLE_MANIFEST = "bundle_manifest.json"
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
#: Folders and files of a run that hold patient-level rows: never packed.
ROW_LEVEL = ("interim/",)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tiff_from_png(png: Path, dpi: int) -> bytes:
    """Return the PNG figure as an RGB TIFF (LZW) of ``dpi`` dots per inch at its printed size.

    Raises
    ------
    RunError
        The PNG is coarser than ``dpi``.
    """
    from PIL import Image  # Pillow, only needed to write a bundle

    with Image.open(png) as image:
        saved = image.info.get("dpi", (0, 0))[0]
        saved = round(float(saved)) if saved else 0
        if saved < dpi:
            raise RunError(
                f"{png.name} was saved at {saved or 'unknown'} dpi, coarser than the {dpi} dpi asked for; "
                f"rerun the figures with -p figure_dpi={dpi} (or pass a lower --dpi)"
            )
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, rgba).convert("RGB")
        if saved > dpi:
            size = (round(rgb.width * dpi / saved), round(rgb.height * dpi / saved))
            rgb = rgb.resize(size, Image.Resampling.LANCZOS)
        out = io.BytesIO()
        rgb.save(out, format="TIFF", compression="tiff_lzw", dpi=(dpi, dpi))
        return out.getvalue()


def _caption(path: Path, fallback: str) -> str:
    return path.read_text(encoding="utf-8").strip() if path.is_file() else fallback


def _publication_parts(html_path: Path) -> tuple[str, list[str]]:
    """Title and footnotes of a publication table, from its HTML version."""
    text = html_path.read_text(encoding="utf-8") if html_path.is_file() else ""
    title = re.search(r"<caption>(.*?)</caption>", text, flags=re.S)
    notes = re.findall(r'<p class="footnote">(.*?)</p>', text, flags=re.S)
    return (html.unescape(title.group(1)) if title else html_path.stem), [html.unescape(n) for n in notes]


def supplement_document(run_dir: str | Path) -> bytes:
    """``supplement.docx``: every supplementary figure (PNG) and supplementary table, with captions."""
    from docx.shared import Inches, Pt

    run_dir = Path(run_dir)
    figures = run_dir / "figures"
    document = new_document()
    document.add_heading("Supplementary material", level=1)
    supp = sorted(p.stem for p in figures.glob("supp_*.png"))
    for i, stem in enumerate(supp, 1):
        caption = _caption(
            figures / f"{stem}.txt", f"Supplementary figure S{i}: {stem[5:].replace('_', ' ')}."
        ).replace("Supplementary figure:", f"Supplementary figure S{i}:")
        document.add_picture(str(figures / f"{stem}.png"), width=Inches(6.3))
        document.add_paragraph(caption)
    tables = sorted((run_dir / "tables" / "publication").glob("table_s_*.csv"))
    for i, path in enumerate(tables, 1):
        title, notes = _publication_parts(path.with_suffix(".html"))
        document.add_paragraph(f"Supplementary table S{i}. {title.removeprefix('Supplementary table: ')}").runs[
            0
        ].bold = True
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        grid = document.add_table(rows=1, cols=len(frame.columns))
        grid.style = "Table Grid"
        for cell, name in zip(grid.rows[0].cells, frame.columns):
            cell.text = str(name)
        for row in frame.itertuples(index=False):
            for cell, value in zip(grid.add_row().cells, row):
                cell.text = str(value)
        for note in notes:
            document.add_paragraph(note).runs[0].font.size = Pt(8)
    return document_bytes(document)


def _check_run(run_dir: Path) -> dict:
    if not run_dir.is_dir():
        raise RunError(f"{run_dir} does not exist: give the folder of a finished run (python -m analysis run --out …)")
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.is_file():
        raise RunError(f"{run_dir} is not a run folder: it has no manifest.json")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunError(f"{manifest_path} is not valid JSON ({exc}); the run may have been interrupted") from None
    if manifest.get("status") != "ok":
        raise RunError(f"the run in {run_dir} did not finish (status {manifest.get('status')!r}); rerun it first")
    missing = [name for name in ("figures", "tables", "report.html") if not (run_dir / name).exists()]
    if missing:
        raise RunError(f"the run folder {run_dir} is incomplete: {', '.join(missing)} missing")
    if not sorted((run_dir / "figures").glob("figure_*_*.pdf")):
        raise RunError(f"the run folder {run_dir} has no main figure (figures/figure_N_<name>.pdf)")
    return manifest


def write_bundle(run_dir: str | Path, out: str | Path | None = None, *, dpi: int = DEFAULT_DPI) -> Path:
    """Write the submission zip of a finished run.

    The Results draft and the checklists are written first when the run has none (runs made
    before they existed); when they exist, the draft's numbers are re-read from the tables and
    the checklists' locations resolved, and the bundle is refused on any mismatch.

    Parameters
    ----------
    run_dir : path
        A finished run folder.
    out : path, optional
        The zip to write (default ``<run_dir>/submission_bundle.zip``).
    dpi : int
        Resolution of the TIFF figures (300: halftone minimum of most journals; 600 or more for
        line art where a journal asks it, with figures saved at least that fine).

    Returns
    -------
    Path
        The zip.

    Raises
    ------
    RunError
        Missing or unfinished run, a draft number that no longer matches its table, a checklist
        location that does not resolve, a figure too coarse for ``dpi``.
    """
    run_dir = Path(run_dir)
    _check_run(run_dir)
    if int(dpi) < 72:
        raise RunError(f"--dpi {dpi} is too low for print (journals ask 300 or more)")
    out = Path(out) if out is not None else run_dir / "submission_bundle.zip"
    if not (run_dir / MD_FILE).is_file() or not (run_dir / KEYS_FILE).is_file():
        write_results_draft(run_dir)
    if not all((run_dir / f"{g.stem}.csv").is_file() for g in GUIDELINES.values()):
        write_checklists(run_dir)
    mismatches = check_results_draft(run_dir)
    if len(mismatches):
        lines = "; ".join(f"{r.key or '?'}: {r.problem}" for r in mismatches.head(5).itertuples())
        raise RunError(f"the Results draft no longer matches the tables ({len(mismatches)} problem(s): {lines})")
    problems = check_checklists(run_dir)
    if problems:
        raise RunError("a checklist points at something absent: " + "; ".join(problems[:5]))

    entries: dict[str, bytes] = {}
    figures = run_dir / "figures"
    for pdf in sorted(figures.glob("figure_*_*.pdf")):
        entries[f"figures/{pdf.name}"] = pdf.read_bytes()
        png = pdf.with_suffix(".png")
        if not png.is_file():
            raise RunError(f"the run folder is incomplete: {png.name} (the raster of {pdf.name}) is missing")
        entries[f"figures/{pdf.stem}.tiff"] = tiff_from_png(png, int(dpi))
        number = pdf.stem.split("_")[1]
        caption = figures / f"figure_{number}.txt"
        if caption.is_file():
            entries[f"figures/figure_{number}_caption.txt"] = caption.read_bytes()
    entries["supplement.docx"] = supplement_document(run_dir)
    publication = run_dir / "tables" / "publication"
    for path in sorted(publication.glob("table_[0-9]*")):
        if path.suffix in (".docx", ".html"):
            entries[f"tables/{path.name}"] = path.read_bytes()
    for g in GUIDELINES.values():
        for ext in ("html", "docx", "csv"):
            entries[f"checklists/{g.stem}.{ext}"] = (run_dir / f"{g.stem}.{ext}").read_bytes()
    for name in (MD_FILE, DOCX_FILE, KEYS_FILE, "report.html", "manifest.json"):
        if (run_dir / name).is_file():
            entries[name] = (run_dir / name).read_bytes()
    leaked = [name for name in entries if name.startswith(ROW_LEVEL)]
    if leaked:  # by construction never; checked so a later change cannot pack the cohort unnoticed
        raise RunError(f"patient-level files would be packed: {leaked}")

    files = {name: {"bytes": len(data), "sha256": _sha256(data)} for name, data in sorted(entries.items())}
    bundle_manifest = {
        "run": run_dir.resolve().name,
        "tiff_dpi": int(dpi),
        "tiff_source": "the run's PNG figures converted by Pillow (RGB, LZW), downsampled when finer than tiff_dpi",
        "row_level_excluded": list(ROW_LEVEL),
        "files": files,
    }
    entries[BUNDLE_MANIFEST] = (json.dumps(bundle_manifest, indent=2, sort_keys=True) + "\n").encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(entries):
            zf.writestr(zipfile.ZipInfo(name, date_time=_FIXED_DATE), entries[name], compress_type=zipfile.ZIP_DEFLATED)
    tmp.replace(out)
    return out
