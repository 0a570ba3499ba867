"""Font lists for synthetic printed lines: which installed font files train, which are held out.

The lists live in `fonts/<name>.txt` as paths relative to FONT_ROOT, so they name Debian packages'
files (jobs/install_fonts.sh) rather than a particular machine's layout.
"""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

FONT_ROOT = Path("/usr/share/fonts")
LIST_DIR = Path(__file__).with_name("fonts")


def list_entries(name: str) -> list[str]:
    """The relative paths written in `fonts/<name>.txt` (comments and blank lines dropped)."""
    entries = []
    for line in (LIST_DIR / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            entries.append(line)
    return entries


def load_font_list(name: str) -> list[Path]:
    """Installed font files of list `name` ('train' or 'heldout'); missing files are skipped with a
    warning so a machine with only some packages can still render."""
    paths, missing = [], []
    for entry in list_entries(name):
        path = FONT_ROOT / entry
        (paths if path.is_file() else missing).append(path)
    if missing:
        # One warning, not one per file: a CI machine has only DejaVu and would print dozens.
        log.warning("%d of %d fonts of list %r are not installed and are skipped (e.g. %s); "
                    "jobs/install_fonts.sh installs them", len(missing), len(missing) + len(paths),
                    name, missing[0])
    return paths
