"""Output files that never lie: the one place where every writer of the project (the
figure, data and configuration files of ``python -m dynamics figure``, its bundles, the
maps of ``sweep --out``, the movies of ``animate``) checks a path before any work and a
file before it is handed over.

``check_path`` runs before any computation: the extension names an allowed format (a
path is never changed, e.g. no suffix is appended), the path is not a folder, its folder
exists and a file can be created there, and an existing file can be overwritten.

``check_bytes`` reads the bytes back as their format: PNG (signature, IHDR chunk, and
the expected pixel size when given), PDF (``%PDF-`` header, ``%%EOF`` at the end), SVG
(XML with an ``<svg>`` root), CSV (UTF-8 rows of one length), NPZ (NumPy archive, no
pickle), JSON, TeX (UTF-8).  ``commit`` writes beside the target under a temporary name,
checks the written file and only then renames it onto the target, so a failed write
never leaves a file that claims to be the output.
"""
from __future__ import annotations

import csv
import io
import json
import os
import struct
import tempfile
import uuid
import xml.etree.ElementTree as ET
import zipfile
from typing import Callable

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class OutputError(ValueError):
    """A path that cannot take the output, or a file that does not read back as its format."""


def format_of(path: str, allowed) -> str:
    """The format named by a file's extension (OutputError if not one of ``allowed``)."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in allowed:
        raise OutputError(f"{path!r}: the extension must be one of {', '.join('.' + f for f in allowed)}")
    return ext


def check_path(path: str, allowed) -> str:
    """The format of ``path`` (its extension, one of ``allowed``); OutputError unless the
    path is a file name whose folder exists and takes a new file, and which is either
    absent or a writable file."""
    fmt = format_of(path, allowed)
    if os.path.isdir(path):
        raise OutputError(f"{path} is a folder; give a file name ending in .{fmt}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"folder {folder} does not exist")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise OutputError(f"cannot write in {folder} ({err.strerror})") from None
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise OutputError(f"cannot overwrite {path} (no permission)")
    return fmt


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels of PNG bytes; OutputError unless they start as a PNG."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR" or len(data) < 33:
        raise OutputError(f"not a PNG file ({len(data)} bytes starting {data[:8]!r})")
    return struct.unpack(">II", data[16:24])


def _check_png(data: bytes, size: tuple[int, int] | None) -> None:
    got = png_size(data)
    if size is not None and got != tuple(size):
        raise OutputError(f"the PNG is {got[0]}x{got[1]} pixels, expected {size[0]}x{size[1]}")


def _check_text(data: bytes, fmt: str) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise OutputError(f"the {fmt.upper()} file is not UTF-8 text") from None
    if fmt == "json":
        try:
            json.loads(text)
        except ValueError as err:
            raise OutputError(f"the JSON file does not parse: {err}") from None
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        if not rows or len({len(r) for r in rows}) != 1:
            raise OutputError("the CSV file has no header or rows of different lengths")
    elif fmt == "svg":
        try:
            root = ET.fromstring(text)
        except ET.ParseError as err:
            raise OutputError(f"the SVG file is not XML: {err}") from None
        if root.tag.rsplit("}", 1)[-1] != "svg":
            raise OutputError(f"the SVG file's root is <{root.tag}>, not <svg>")


def check_bytes(data: bytes, fmt: str, size: tuple[int, int] | None = None) -> None:
    """OutputError unless ``data`` reads back as a ``fmt`` file (a PNG of ``size`` =
    (width, height) pixels when given)."""
    if fmt == "png":
        _check_png(data, size)
    elif fmt == "pdf":
        if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-1024:]:
            raise OutputError(f"not a complete PDF file ({len(data)} bytes starting {data[:8]!r})")
    elif fmt == "npz":
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                if not archive.files:
                    raise OutputError("the NPZ file holds no arrays")
                for name in archive.files:
                    archive[name]
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise OutputError(f"the NPZ file does not read back: {err}") from None
    elif fmt in ("svg", "csv", "json", "tex"):
        _check_text(data, fmt)
    else:
        raise OutputError(f"no check for the format {fmt!r}")


def commit(path: str, write: Callable[[str], None], check: Callable[[str], None]) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, ``check(tmp)`` it, then rename
    it onto ``path``; the temporary file is removed whatever happens.  An OSError while
    writing becomes an OutputError; errors of ``write`` and ``check`` pass through."""
    folder, name = os.path.split(os.path.abspath(path))
    ext = os.path.splitext(name)[1]
    tmp = os.path.join(folder, f".{name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{ext}")
    try:
        write(tmp)
        check(tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise OutputError(f"could not write {path}: {err.strerror or err}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes(path: str, data: bytes, fmt: str, size: tuple[int, int] | None = None) -> None:
    """Write ``data`` to ``path``: the written file is read back and must check out as
    ``fmt`` (``check_bytes``) before it is renamed onto ``path`` (``commit``)."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    def check(tmp: str) -> None:
        with open(tmp, "rb") as f:
            check_bytes(f.read(), fmt, size)

    commit(path, write, check)
