"""Word files with reproducible bytes: fixed document properties and zip entry dates.

python-docx stamps the creation time into the document properties and the zip entries carry the
time of writing; both are fixed here so the same content gives the same bytes.
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path

__all__ = ["document_bytes", "new_document", "save_document"]

_FIXED_TIME = datetime(2000, 1, 1)


def new_document():
    """Return an empty python-docx Document with fixed properties (author, times, revision)."""
    import docx  # python-docx is needed only when a Word file is written

    document = docx.Document()
    props = document.core_properties
    props.author = props.last_modified_by = "endoimmune-analysis"
    props.created = props.modified = _FIXED_TIME
    props.revision = 1
    return document


def document_bytes(document) -> bytes:
    """The bytes of ``document`` as a .docx with every zip entry dated 1980-01-01 (same content, same bytes)."""
    raw = io.BytesIO()
    document.save(raw)
    fixed = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(
                zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)),
                src.read(info.filename),
                compress_type=zipfile.ZIP_DEFLATED,
            )
    return fixed.getvalue()


def save_document(document, path: str | Path) -> Path:
    """Save ``document`` to ``path`` with reproducible bytes (:func:`document_bytes`), written atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(document_bytes(document))
    tmp.replace(path)
    return path
