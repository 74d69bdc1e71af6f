"""Blobs as files under one root directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from core.errors import NotFound, StorageUnavailable
from storage.base import Storage, check_key

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class LocalStorage(Storage):
    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        # Write then rename, so a reader never sees half a file and a crash leaves no partial blob.
        # The directory is made only when it is missing: a submit's upload usually finds it there.
        tmp = os.path.join(path.parent, f".tmp-{os.urandom(8).hex()}")
        try:
            try:
                fd = os.open(tmp, _NEW_FILE, 0o600)  # as tempfile.mkstemp made them
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(tmp, _NEW_FILE, 0o600)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageUnavailable(f"Could not write {key}: {exc.strerror or exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"No stored object {key}") from exc
        except OSError as exc:
            raise StorageUnavailable(f"Could not read {key}: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"Could not delete {key}: {exc.strerror or exc}") from exc

    def delete_prefix(self, prefix: str) -> int:
        base = self._path(prefix.rstrip("/"))
        if base.is_dir() and prefix.endswith("/"):
            count = sum(1 for p in base.rglob("*") if p.is_file())
            shutil.rmtree(base, ignore_errors=True)
            return count
        count = 0
        parent = base.parent
        if parent.is_dir():
            for path in parent.iterdir():
                if path.name.startswith(base.name) and path.is_file():
                    path.unlink(missing_ok=True)
                    count += 1
        return count

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".ready"
            probe.write_bytes(b"ok")
        except OSError as exc:
            raise StorageUnavailable(f"Storage root {self.root} is not writable: {exc.strerror or exc}") from exc
