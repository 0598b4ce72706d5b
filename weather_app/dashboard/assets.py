"""What the dashboard serves besides data: the page, its static files, and the plot images.

Both kinds are looked up by name, never by joining a request path onto a folder: the static
files are an allow-list read at start-up, and a plot is a plain file directly inside the plots
folder whose name matches :data:`PLOT_NAME` (no separators, no leading dot, no symlinks).
Anything else, encoded or not, is simply not found.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent / "static"
PAGE_TEMPLATE = "index.html"
_CONFIG_MARK = "__DASHBOARD_CONFIG__"

PLOT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}\.(png|svg)")
PLOT_TYPES = {"png": "image/png", "svg": "image/svg+xml"}

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".md": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE files
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str


def static_assets(folder: Path = STATIC) -> dict[str, Asset]:
    """Relative path -> file, for every servable file under ``static/`` (not the template)."""
    assets: dict[str, Asset] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name == PAGE_TEMPLATE:
            continue
        if path.name.startswith("LICENSE"):
            content_type = _TYPES[""]
        elif path.suffix in _TYPES and path.suffix:
            content_type = _TYPES[path.suffix]
        else:
            continue
        assets[path.relative_to(folder).as_posix()] = Asset(path.read_bytes(), content_type)
    return assets


def page(config: dict[str, Any], folder: Path = STATIC) -> bytes:
    """The index page with the chart config inlined as JSON (never executed as script)."""
    template = (folder / PAGE_TEMPLATE).read_text(encoding="utf-8")
    inline = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
    return template.replace(_CONFIG_MARK, inline).encode("utf-8")


def plot_path(folder: Path, name: str) -> Path | None:
    """The plot file called ``name`` inside ``folder``, or None if there is no such plot."""
    if not PLOT_NAME.fullmatch(name):
        return None
    path = folder / name
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return path if stat.S_ISREG(info.st_mode) else None


def plot_names(folder: Path) -> dict[str, int]:
    """Plot name -> mtime in ns, for the page's image links (a changed time busts caches)."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    found = {}
    for entry in entries:
        if PLOT_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                found[entry.name] = entry.stat(follow_symlinks=False).st_mtime_ns
            except FileNotFoundError:
                continue
    return dict(sorted(found.items()))
