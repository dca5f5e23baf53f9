"""mehilainen_fhir: loosely shaped resources read as they always were, and text that is not Unicode.

FHIR elements arrive in any shape (a list holding a string, an identifier without a system, an empty
name): the connector takes what the contract's columns need and skips the rest. These pin down what
each shortcut in its reading of a resource must keep.
"""

from __future__ import annotations

import json
import re
from unittest import mock
from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import fhir
from tests.unit.test_fhir import ATTENDER, HETU, MRN, ROLE, encounter, patient, read, write_export


def test_junk_inside_patient_elements_is_skipped(tmp_path):
    person = patient(
        "p1",
        identifier=["junk", {"system": ["not", "a", "string"], "value": "x"}, {"system": MRN, "value": "MH1"},
                    {"system": HETU, "value": "010180-123A"}, {"system": MRN, "value": "MH2"}],
        name=["junk", {"use": "nickname", "family": "Kutsu"}, {"use": "usual", "family": "Muu"}],
        telecom=[{"value": " "}, {"value": 5}, "junk", {"system": "phone", "value": "+358 40 1"}],
        address=[{"use": "work", "line": ["Työ 1"]}, {"use": "home", "line": ["Koti 1", None, " ", 3, "B 2"]}],
    )
    folder = write_export(tmp_path / "20261001", {"Patient.000.ndjson": [person],
                                                  "Encounter.000.ndjson": [encounter("e1", "Patient/p1")]})
    table, report = read(folder)
    row = table.to_pylist()[0]
    assert (row["hetu"], row["patient_local_id"]) == ("010180-123A", "MH1")  # the first identifier of each system
    assert (row["name_family"], row["name_given"]) == ("Kutsu", None)  # no official name: the first one
    assert (row["telecom"], row["address_line"]) == ("+358 40 1", "Koti 1, B 2")
    assert report.warnings == [] and row["_errors"] is None


def test_junk_inside_encounter_elements_is_skipped(tmp_path):
    loose = encounter(
        "e1", "Patient/p1",
        **{"class": [{"coding": [{"code": "AMB"}]}],  # R5: a list of CodeableConcept
           "serviceType": [{"coding": [{"code": "GP"}]}], "type": [], "priority": {"coding": ["junk"]},
           "participant": ["junk", {"individual": {}},
                           {"type": [ATTENDER], "individual": {"reference": "Practitioner/att"}},
                           {"type": ["junk", {"coding": ["junk", ROLE["coding"][0]]}],
                            "individual": {"reference": "Practitioner/pp"}}]})
    folder = write_export(tmp_path / "20261001", {"Patient.000.ndjson": [patient("p1")],
                                                  "Encounter.000.ndjson": [loose]})
    row = read(folder)[0].to_pylist()[0]
    assert (row["class_code"], row["service_type_code"], row["encounter_type_code"], row["priority_code"]) == \
        ("AMB", "GP", None, None)
    assert row["practitioner_id"] == "pp"  # the primary performer, after junk and an empty individual


def test_a_surrogate_written_out_as_bytes_is_text_that_is_not_unicode(tmp_path):
    """``json.loads`` lets the UTF-8-style bytes of a surrogate through; the row cannot be stored, and used to
    fail the whole read. It is an unreadable row (a Patient line: a warning), like a ``\\ud800`` escape."""
    surrogate = "\ud800".encode("utf-8", "surrogatepass")
    good = [json.dumps(r, ensure_ascii=False) for r in (patient("p1"), encounter("e2", "Patient/p1"))]
    folder = write_export(tmp_path / "20261001", {
        "Patient.000.ndjson": [good[0], json.dumps(patient("p2", city="x"))],
        "Encounter.000.ndjson": [json.dumps(encounter("e1", "Patient/p1")), good[1]],
    })
    for name, line in (("Patient.000.ndjson", 2), ("Encounter.000.ndjson", 1)):
        path = folder / name
        lines = path.read_bytes().split(b"\n")
        lines[line - 1] = lines[line - 1].replace(b'"x"' if line == 2 else b'"finished"', b'"' + surrogate + b'"')
        path.write_bytes(b"\n".join(lines))
    table, report = read(folder)
    assert table["encounter_id"].to_pylist() == ["e2"]
    assert report.unreadable_rows == [(0, "Encounter.000.ndjson line 1: holding text that is not valid Unicode")]
    assert report.warnings == ["1 Patient line(s) holding text that is not valid Unicode (Patient.000.ndjson:2); "
                               "their encounters are rejected as dangling references"]


_REFERENCE_PIECES = st.sampled_from(["Patient", "Practitioner", "/", "//", ":", "?", "#", "[", "]", "_history", "p1",
                                     "2", " ", "\t", "\n", "\x00", "\x7f", "%2F", "é", "\u00a0", "http", "urn:uuid:"])


@settings(max_examples=500, deadline=None)
@given(pieces=st.lists(_REFERENCE_PIECES, max_size=8), kind=st.sampled_from(["Patient", "Practitioner"]))
def test_a_reference_resolves_as_urlsplit_reads_it(pieces, kind):
    """A plain relative reference skips urlsplit; any reference must resolve as if it had not."""
    reference = "".join(pieces)
    with mock.patch.object(fhir, "_RELATIVE_PATH", re.compile(r"(?!)")):  # never matches: always urlsplit
        through_urlsplit = fhir.reference_id(reference, kind)
    assert fhir.reference_id(reference, kind) == through_urlsplit
    if fhir._RELATIVE_PATH.match(reference):
        assert urlsplit(reference).path == reference
