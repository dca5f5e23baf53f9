"""`tesoma audit` finds identifying data, names file and column or line, and never prints the value."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from tesoma import audit
from tesoma.cli import main
from transforms.pseudonymise.detect import names_from, scan


def test_detectors():
    assert scan("code 131052-308T here")["identity_code"] == 1
    assert scan("new signs 010105B123C and 010190Y1234")["identity_code"] == 2
    assert scan("call +358 40 1234567 or 050-123 4567")["phone_number"] == 2
    assert scan("mail matti.meikalainen@gmail.com")["email_address"] == 1
    assert not scan("support data@tesoma.example; noreply@example.com")  # RFC 2606 documentation domains
    assert scan("Visit by Ella Mäki", {"Ella", "Mäki"})["name"] == 2
    # pseudonyms, dates, postal codes and amounts are not findings
    assert not scan("aafzliwvabdswuvhumlmjp7ily 2026-10-01 33310 20.90 K194249191", {"Ella"})


def test_names_from_name_fields():
    assert names_from(["Ella Sofia", "Mäki-Kuusela", None, "Li"]) == {"Ella", "Sofia", "Mäki-Kuusela"}


def test_audit_names_file_and_column_not_value(tmp_path, data_root, capsys):
    clean = tmp_path / "warehouse" / "clean.parquet"
    clean.parent.mkdir()
    pq.write_table(pa.table({"person_id": ["aafzliwvabdswuvhumlmjp7ily"], "n": [3]}), clean)
    leaky = tmp_path / "warehouse" / "leaky.parquet"
    pq.write_table(pa.table({"note": ["ok", "asiakas 131052-308T soitti"], "n": [1, 2]}), leaky)
    log = tmp_path / "run.log"
    log.write_text("INFO start\nINFO phone +358 40 7654321\n", encoding="utf-8")

    findings, scanned = audit.run(__import__("tesoma.config", fromlist=["settings"]).settings(),
                                  [tmp_path / "warehouse", log])
    assert scanned == 3
    assert {(f.path.name, f.where, f.kind) for f in findings} == {
        ("leaky.parquet", "column note", "identity_code"), ("run.log", "line 2", "phone_number")}

    assert main(["audit", str(tmp_path / "warehouse"), str(log)]) == 1
    out = capsys.readouterr().out
    assert "leaky.parquet: column note" in out and "run.log: line 2" in out
    assert "131052-308T" not in out and "7654321" not in out

    assert main(["audit", str(clean)]) == 0
