"""Landing a delivered file: hashed and archived at once, the archive named by the hash of its bytes."""

from __future__ import annotations

import hashlib
import shutil

from tesoma.steps import landing as steps
from warehouse.layout import Layout


def archive(source, root):
    return steps._archive_file(source, Layout(root), "city", "city_visits")


def test_the_archive_is_named_by_the_hash_of_its_bytes(tmp_path):
    source = tmp_path / "landing.csv"
    source.write_bytes(b"a;b\r\n1;2\r\n")
    sha, raw, size = archive(source, tmp_path)
    assert sha == hashlib.sha256(source.read_bytes()).hexdigest()
    assert raw == tmp_path / "raw" / "city" / "city_visits" / f"{sha}.csv"
    assert raw.read_bytes() == source.read_bytes() and size == len(source.read_bytes())
    assert sorted(p.name for p in raw.parent.iterdir()) == [raw.name]  # no temporary file left


def test_landing_the_same_bytes_again_keeps_one_archive(tmp_path):
    source = tmp_path / "landing.csv"
    source.write_bytes(b"x" * 100_000)
    first = archive(source, tmp_path)
    second = archive(source, tmp_path)
    assert first == second
    assert len(list(first[1].parent.iterdir())) == 1


def test_a_file_that_changes_while_landing_is_named_by_what_was_copied(tmp_path, monkeypatch):
    import threading

    source = tmp_path / "landing.csv"
    source.write_bytes(b"first part\r\n")
    real_copy, real_hash = shutil.copyfile, steps._sha256
    appended = threading.Event()

    def copy_then_upload_goes_on(src, dst):
        real_copy(src, dst)
        with open(src, "ab") as f:  # the partner's upload is still running
            f.write(b"second part\r\n")
        appended.set()

    def hash_after_the_append(path):
        if path == source:
            assert appended.wait(10)
        return real_hash(path)

    monkeypatch.setattr(steps.shutil, "copyfile", copy_then_upload_goes_on)
    monkeypatch.setattr(steps, "_sha256", hash_after_the_append)
    sha, raw, _ = archive(source, tmp_path)
    assert raw.read_bytes() == b"first part\r\n"
    assert sha == hashlib.sha256(raw.read_bytes()).hexdigest() == raw.stem
