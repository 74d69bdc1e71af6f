"""Which files a bulk submit sends, the idempotency token of each, and where its results go."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# What a directory walk picks up. Files named explicitly are sent whatever their name: the
# server decides by their bytes.
DOCUMENT_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})


@dataclass(frozen=True)
class InputFile:
    path: Path
    # Where its results go under --out, without suffix: the stem for a file named on the command
    # line, the path relative to the walked directory for a file found in one.
    out_name: str


def find_inputs(paths: Iterable[Path]) -> list[InputFile]:
    """Files named and the documents under directories named, in a stable order, each once."""
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if child.is_file() and child.suffix.lower() in DOCUMENT_SUFFIXES and not _hidden(relative):
                    found.append((child, relative.with_suffix("").as_posix()))
        elif path.is_file():
            found.append((path, path.stem))
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return _unique(found)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _unique(found: list[tuple[Path, str]]) -> list[InputFile]:
    seen_paths: set[Path] = set()
    taken: set[str] = set()
    inputs = []
    for path, name in found:
        resolved = path.resolve()
        if resolved in seen_paths:
            continue
        seen_paths.add(resolved)
        # Two different files with the same stem (a/x.pdf, b/x.pdf) must not overwrite each other's results.
        out_name, n = name, 1
        while out_name in taken:
            n += 1
            out_name = f"{name}-{n}"
        taken.add(out_name)
        inputs.append(InputFile(path, out_name))
    return inputs


def request_token(content: bytes, options: Mapping[str, Any]) -> str:
    """sha256 over the file's bytes and the job options: the same file sent again with the same
    options is the same request, so the server answers the job it already has."""
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(content).digest())
    digest.update(json.dumps(dict(options), sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file so an interrupted run never leaves half a result behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
