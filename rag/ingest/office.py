"""What the Office readers (.docx, .pptx, .xlsx) share: spotting a password-protected file."""
from __future__ import annotations

from ..errors import IngestError

# Office saves a password-protected document as an OLE compound file, not a zip archive.
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def encrypted_office_problem(raw: bytes, source: str, kind: str) -> IngestError | None:
    """The error for a password-protected .docx/.pptx/.xlsx, or None."""
    if raw.startswith(OLE_MAGIC):
        return IngestError(f"{source}: password-protected {kind} file: open it, remove the password and save it again")
    return None
