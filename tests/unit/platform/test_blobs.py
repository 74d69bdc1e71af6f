"""Reference counts of stored uploads (db/blobs.py): an upload goes when its last reference goes, not before."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.blobs import add_references, drop_references
from db.models import InputBlob


def counts(database) -> dict[str, int]:
    with database.session() as s:
        return {row.sha256: row.refs for row in s.scalars(select(InputBlob))}


def test_an_upload_is_removed_with_its_last_reference_only(database):
    removed: list[str] = []
    with database.session() as s:
        add_references(s, ["b", "a", "a"])
    with database.session() as s:
        add_references(s, ["a"])
    assert counts(database) == {"a": 3, "b": 1}

    with database.session() as s:
        assert drop_references(s, ["a", "b"], removed.append) == ["b"]
    assert counts(database) == {"a": 2} and removed == ["b"]
    with database.session() as s:
        assert drop_references(s, ["a", "a"], removed.append) == ["a"]
    assert counts(database) == {} and removed == ["b", "a"]


def test_uploads_never_counted_are_kept(database):
    removed: list[str] = []
    with database.session() as s:
        assert drop_references(s, ["unknown"], removed.append) == []
    assert removed == []


def test_a_failed_removal_keeps_the_count(database):
    with database.session() as s:
        add_references(s, ["a"])

    def storage_down(_sha256: str) -> None:
        raise OSError("storage unreachable")

    with pytest.raises(OSError), database.session() as s:
        drop_references(s, ["a"], storage_down)
    assert counts(database) == {"a": 1}  # rolled back: the next delete tries again
