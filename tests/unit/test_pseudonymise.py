"""Pseudonymisation: identity codes → keyed pseudonyms, birth year, sex; direct identifiers dropped."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections import Counter

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.pseudonymise import (
    IdentitySpec,
    KeyProblem,
    PseudonymKey,
    keyed_hash,
    keyed_ids,
    professional_ids,
    pseudonymise,
)

ALPHABET = "0123456789ABCDEFHJKLMNPRSTUVWXY"
KEY = PseudonymKey(b"unit-test-key-" + b"0123456789abcdef" * 2)
OTHER_KEY = PseudonymKey(b"another-unit-test-key-" + b"fedcba9876543210" * 2)
PSEUDONYM = re.compile(r"^[a-z2-7]{26}$")

SPEC = IdentitySpec(
    identity_code="henkilotunnus",
    direct_identifiers=("sukunimi", "puhelin"),
    event_time="alkuaika",
    source_id="kaynti_id",
    partner="city",
)


def hetu(day: int, month: int, year: int, individual: int, sign: str | None = None) -> str:
    """A valid code for a date, computed independently of the module under test."""
    if sign is None:
        sign = {18: "+", 19: "-", 20: "A"}[year // 100]
    digits = f"{day:02d}{month:02d}{year % 100:02d}"
    number = f"{individual:03d}"
    return f"{digits}{sign}{number}{ALPHABET[int(digits + number) % 31]}"


def visits(codes: list[str | None], at: list[dt.datetime] | None = None, errors: list[str | None] | None = None,
           ) -> pa.Table:
    n = len(codes)
    columns = {
        "kaynti_id": pa.array([f"K{i:09d}" for i in range(1, n + 1)], pa.string()),
        "henkilotunnus": pa.array(codes, pa.string()),
        "sukunimi": pa.array(["Äijö Testinen"] * n, pa.string()),
        "puhelin": pa.array(["040 123 4567"] * n, pa.string()),
        "postinumero": pa.array(["33300"] * n, pa.string()),
        "alkuaika": pa.array(at or [dt.datetime(2026, 10, 1, 8, 30)] * n, pa.timestamp("s")),
    }
    if errors is not None:
        columns["_errors"] = pa.array(errors, pa.string())
    return pa.table(columns)


# --- keys -------------------------------------------------------------------------------------------------


def test_short_key_is_refused_with_instructions():
    with pytest.raises(KeyProblem) as info:
        PseudonymKey(b"x" * 31)
    message = str(info.value)
    assert "31 bytes" in message and "32" in message
    assert "secrets.token_urlsafe" in message


def test_empty_key_is_refused():
    with pytest.raises(KeyProblem):
        PseudonymKey(b"")


def test_repr_does_not_show_the_secret():
    secret = b"very-private-material-" + bytes(range(65, 85))
    key = PseudonymKey(secret)
    assert secret.decode() not in repr(key)
    assert "very-private" not in repr(key)
    assert "very-private" not in str(key)


def test_key_id_is_stable_and_not_the_secret():
    secret = b"key-id-test-" + b"0123456789abcdefghij" * 2
    a, b = PseudonymKey(secret), PseudonymKey(secret)
    assert a.key_id == b.key_id
    assert re.fullmatch(r"k-[0-9a-f]{12}", a.key_id)
    assert "0123" not in a.key_id
    assert a.key_id != PseudonymKey(b"other-key-id-test-" + b"abcdefghij0123456789" * 2).key_id


# --- given rows → expected rows ---------------------------------------------------------------------------


def test_valid_codes_become_pseudonyms_and_demographics():
    table = visits([
        "131052-308T",
        hetu(1, 5, 1994, 123, "Y"),
    ], at=[dt.datetime(2026, 10, 13, 9), dt.datetime(2026, 4, 30, 23, 59)])

    out = pseudonymise(table, SPEC, KEY)

    # No age here: it is derived in harmonise from the birth year, so the birth day goes no further.
    assert out.column_names == ["postinumero", "alkuaika", "event_id", "person_id", "person_id_kind", "birth_year",
                                "sex", "_errors"]  # _errors is added when the input lacks it
    assert out["_errors"].null_count == out.num_rows
    rows = out.select(["postinumero", "person_id_kind", "birth_year", "sex"]).to_pylist()
    assert rows == [
        {"postinumero": "33300", "person_id_kind": "hetu", "birth_year": 1952, "sex": "female"},
        {"postinumero": "33300", "person_id_kind": "hetu", "birth_year": 1994, "sex": "male"},
    ]
    ids = out["person_id"].to_pylist()
    assert all(PSEUDONYM.match(p) for p in ids)
    assert ids[0] != ids[1]
    assert out.schema.field("birth_year").type == pa.int16()


def test_direct_identifiers_and_code_are_dropped():
    out = pseudonymise(visits(["131052-308T"]), SPEC, KEY)
    for gone in ("henkilotunnus", "sukunimi", "puhelin", "kaynti_id"):
        assert gone not in out.column_names
    flat = str(out.to_pylist())
    assert "131052" not in flat and "Äijö" not in flat and "040 123" not in flat


def test_missing_direct_identifier_column_is_fine():
    spec = IdentitySpec("henkilotunnus", ("sukunimi", "not_delivered"))
    out = pseudonymise(visits(["131052-308T"]), spec, KEY)
    assert "sukunimi" not in out.column_names
    assert "event_id" not in out.column_names  # no source_id in the spec
    assert "kaynti_id" in out.column_names


def test_temporary_codes_have_their_own_kind():
    out = pseudonymise(visits([hetu(1, 1, 1990, 900), hetu(1, 1, 1990, 999), hetu(1, 1, 1990, 899)]), SPEC, KEY)
    assert out["person_id_kind"].to_pylist() == ["temporary", "temporary", "hetu"]
    assert out["sex"].to_pylist() == ["female", "male", "male"]


@pytest.mark.parametrize(("individual", "sex"), [(2, "female"), (3, "male"), (308, "female"), (899, "male")])
def test_sex_from_individual_number(individual, sex):
    out = pseudonymise(visits([hetu(5, 6, 1977, individual)]), SPEC, KEY)
    assert out["sex"].to_pylist() == [sex]


@pytest.mark.parametrize("born", [dt.date(1990, 1, 1), dt.date(1990, 5, 17), dt.date(1990, 12, 31)])
def test_only_the_birth_year_leaves(born):
    """Birthdays on 1 Jan, 17 May and 31 Dec of one year give identical rows: nothing narrows the day."""
    out = pseudonymise(visits([hetu(born.day, born.month, born.year, 123)], at=[dt.datetime(2026, 5, 17)]), SPEC, KEY)
    assert out.drop_columns(["person_id"]).to_pylist() == [
        {"postinumero": "33300", "alkuaika": dt.datetime(2026, 5, 17), "event_id": out["event_id"][0].as_py(),
         "person_id_kind": "hetu", "birth_year": 1990, "sex": "male", "_errors": None}]


def test_invalid_codes_get_no_pseudonym_and_a_reason():
    valid = "131052-308T"
    codes = [
        valid,
        "131052-308U",  # wrong check character
        "310290-123X",  # 31 February
        hetu(1, 1, 1990, 0),  # individual number 000
        hetu(1, 1, 1990, 1),  # individual number 001
        "garbage",
        None,  # missing: no pseudonym; the "required" rule reports it, not this step
    ]
    table = visits(codes, errors=[None, None, "alkuaika: not_a_date_time", None, None, None, None])

    out = pseudonymise(table, SPEC, KEY)

    assert out.select(["person_id_kind", "birth_year", "sex", "_errors"]).to_pylist()[1:] == [
        {"person_id_kind": None, "birth_year": None, "sex": None,
         "_errors": "henkilotunnus: identity_code_check_character"},
        {"person_id_kind": None, "birth_year": None, "sex": None,
         "_errors": "alkuaika: not_a_date_time|henkilotunnus: identity_code_date"},
        {"person_id_kind": None, "birth_year": None, "sex": None,
         "_errors": "henkilotunnus: identity_code_individual_number"},
        {"person_id_kind": None, "birth_year": None, "sex": None,
         "_errors": "henkilotunnus: identity_code_individual_number"},
        {"person_id_kind": None, "birth_year": None, "sex": None, "_errors": "henkilotunnus: not_an_identity_code"},
        {"person_id_kind": None, "birth_year": None, "sex": None, "_errors": None},
    ]
    assert out["person_id"].to_pylist()[1:] == [None] * 6
    assert out["_errors"].to_pylist()[0] is None
    assert out["person_id"].to_pylist()[0] is not None


def test_codes_are_normalised_before_hashing():
    out = pseudonymise(visits(["131052-308T", " 131052-308t "]), SPEC, KEY)
    first, second = out["person_id"].to_pylist()
    assert first == second is not None


def test_century_sign_is_part_of_the_identity():
    old, new = hetu(1, 1, 1990, 123, "-"), hetu(1, 1, 1990, 123, "Y")
    assert old[-1] == new[-1]  # same check character: the codes differ only in the sign
    out = pseudonymise(visits([old, new]), SPEC, KEY)
    a, b = out["person_id"].to_pylist()
    assert a and b and a != b
    assert out["birth_year"].to_pylist() == [1990, 1990]


def test_same_key_same_pseudonym_other_key_other_pseudonym():
    table = visits(["131052-308T"])
    first = pseudonymise(table, SPEC, KEY)
    again = pseudonymise(table, SPEC, PseudonymKey(b"unit-test-key-" + b"0123456789abcdef" * 2))
    other = pseudonymise(table, SPEC, OTHER_KEY)
    assert first["person_id"].equals(again["person_id"])
    assert first["event_id"].equals(again["event_id"])
    assert first["person_id"].to_pylist() != other["person_id"].to_pylist()
    assert first["event_id"].to_pylist() != other["event_id"].to_pylist()


def test_event_id_is_keyed_in_the_partner_domain():
    table = visits(["131052-308T", "131052-308T"])
    out = pseudonymise(table, SPEC, KEY)
    expected = keyed_ids(table["kaynti_id"].combine_chunks(), "event:city", KEY)
    assert out["event_id"].to_pylist() == expected.to_pylist()
    assert out["event_id"].to_pylist()[0] != out["event_id"].to_pylist()[1]
    other_partner = pseudonymise(table, IdentitySpec(**{**SPEC.__dict__, "partner": "mehilainen"}), KEY)
    assert set(other_partner["event_id"].to_pylist()).isdisjoint(out["event_id"].to_pylist())


def test_event_ids_hashed_ahead_give_the_same_table():
    from transforms.pseudonymise import EventIds

    table = pa.concat_tables([visits(["131052-308T", "010190-123F"]), visits(["131052-308T"])])  # two chunks
    ids = EventIds(SPEC, KEY)
    for batch in table.to_batches(max_chunksize=2):  # added in pieces, as the reader yields them
        ids.add(batch.column(SPEC.source_id))
    ahead = ids.result()
    assert len(ahead) == 3 and ahead.num_chunks == 2
    assert pseudonymise(table, SPEC, KEY, event_ids=ahead).equals(pseudonymise(table, SPEC, KEY))
    with pytest.raises(ValueError, match="2 event ids given for 3 rows"):
        pseudonymise(table, SPEC, KEY, event_ids=ahead[:2])


def test_per_row_keyed_ids_equal_distinct_ones_across_chunks_and_nulls():
    values = pa.chunked_array([["a", "b", None, "ä"], pa.array(["x", "c", "a"]).slice(1)])
    per_row = keyed_ids(values, "event:city", KEY, per_row=True)
    assert per_row.to_pylist() == keyed_ids(values.combine_chunks(), "event:city", KEY).to_pylist()
    assert per_row.to_pylist()[2] is None and per_row.to_pylist()[0] == per_row.to_pylist()[5]


def test_keyed_ids_keeps_nulls():
    out = keyed_ids(pa.array(["a", None, "a"]), "event:city", KEY)
    assert out.to_pylist()[1] is None
    assert out.to_pylist()[0] == out.to_pylist()[2]


def test_pseudonym_does_not_contain_the_code():
    code = "131052-308T"
    pid = pseudonymise(visits([code]), SPEC, KEY)["person_id"].to_pylist()[0]
    assert code.lower() not in pid and "131052" not in pid and "308" not in pid


def test_input_table_is_not_modified():
    table = visits(["131052-308T", "garbage"], errors=[None, None])
    before = table.to_pylist()
    schema = table.schema
    pseudonymise(table, SPEC, KEY)
    assert table.to_pylist() == before
    assert table.schema.equals(schema)


def test_multichunk_table_with_errors():
    part = visits(["131052-308T", "garbage"], errors=["x: required", None])
    table = pa.concat_tables([part, part, part])
    assert table["_errors"].num_chunks == 3
    out = pseudonymise(table, SPEC, KEY)
    assert out["_errors"].to_pylist() == ["x: required", "henkilotunnus: not_an_identity_code"] * 3


def test_each_distinct_code_is_hashed_once(monkeypatch):
    hashed: Counter = Counter()  # values hashed, per domain
    original = keyed_hash.digests

    def counting(values, domain, key):
        hashed[domain] += len(values)
        return original(values, domain, key)

    monkeypatch.setattr(keyed_hash, "digests", counting)
    codes = [hetu(1 + i, 1, 1980, 100 + i) for i in range(10)]
    table = visits([codes[i % 10] for i in range(1000)])
    spec = IdentitySpec("henkilotunnus", (), event_time="alkuaika", source_id="kaynti_id", partner="city")

    out = pseudonymise(table, spec, KEY)

    assert hashed["hetu"] + hashed["temporary"] == 10
    assert hashed["event:city"] == 1000  # every visit id is distinct
    assert out["person_id"].null_count == 0
    assert len(set(out["person_id"].to_pylist())) == 10


def test_empty_table():
    out = pseudonymise(visits([], errors=[]), SPEC, KEY)
    assert out.num_rows == 0
    assert {"person_id", "person_id_kind", "birth_year", "sex", "event_id"} <= set(out.column_names)


def test_all_codes_missing():
    out = pseudonymise(visits([None, None], errors=[None, None]), SPEC, KEY)
    assert out.select(["person_id", "person_id_kind", "birth_year", "sex", "_errors"]).to_pylist() == [
        {"person_id": None, "person_id_kind": None, "birth_year": None, "sex": None, "_errors": None}
    ] * 2


def test_domains_separate_the_same_characters():
    values = ["131052-308T", "K000000001"]
    by_domain = {d: keyed_hash.pseudonyms(values, d, KEY).to_pylist()
                 for d in ("hetu", "temporary", "partner_local:city", "event:city", "event:mehilainen")}
    flat = [p for ps in by_domain.values() for p in ps]
    assert len(set(flat)) == len(flat)


def test_pseudonym_text_is_rfc4648_base32_of_the_digest():
    values = ["a", "131052-308T", "ä"]
    raw = keyed_hash.digests(values, "hetu", KEY)
    assert len(raw) == 16 * len(values)
    expected = [base64.b32encode(raw[i * 16:(i + 1) * 16]).decode().rstrip("=").lower() for i in range(len(values))]
    assert keyed_hash.to_text(raw).to_pylist() == expected
    assert keyed_hash.pseudonyms([*values, None], "hetu", KEY).to_pylist() == [*expected, None]


# --- properties -------------------------------------------------------------------------------------------


def _signs_for(year: int) -> str:
    return {18: "+", 19: "-YXWVU", 20: "ABCDEF"}[year // 100]


@st.composite
def valid_hetus(draw) -> tuple[str, dt.date, int]:
    born = draw(st.dates(min_value=dt.date(1850, 1, 1), max_value=dt.date(2025, 12, 31)))
    sign = draw(st.sampled_from(_signs_for(born.year)))
    individual = draw(st.integers(min_value=2, max_value=899))
    return hetu(born.day, born.month, born.year, individual, sign), born, individual


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_hetus())
def test_any_valid_hetu_is_accepted(case):
    code, born, individual = case
    out = pseudonymise(visits([code], at=[dt.datetime(2026, 1, 1)]), SPEC, KEY)
    row = out.select(["person_id_kind", "birth_year", "sex"]).to_pylist()[0]
    assert row == {"person_id_kind": "hetu", "birth_year": born.year, "sex": "male" if individual % 2 else "female"}
    assert PSEUDONYM.match(out["person_id"].to_pylist()[0])


@settings(max_examples=150, deadline=None)
@given(valid_hetus())
def test_pseudonym_is_deterministic_per_key_and_hides_the_code(case):
    code, _, _ = case
    table = visits([code])
    first = pseudonymise(table, SPEC, KEY)["person_id"].to_pylist()[0]
    second = pseudonymise(table, SPEC, KEY)["person_id"].to_pylist()[0]
    other = pseudonymise(table, SPEC, OTHER_KEY)["person_id"].to_pylist()[0]
    assert first == second
    assert first != other
    assert code.lower() not in first
    assert code[:6] not in first  # the birth-date digits
    assert code[:6] + code[7:10] not in first  # the nine-digit run


@settings(max_examples=100, deadline=None)
@given(st.lists(valid_hetus(), min_size=2, max_size=20, unique_by=lambda c: c[0]))
def test_distinct_codes_get_distinct_pseudonyms(cases):
    codes = [c[0] for c in cases]
    ids = pseudonymise(visits(codes), SPEC, KEY)["person_id"].to_pylist()
    assert len(set(ids)) == len(codes)


@pytest.mark.parametrize("secret", [b" " * 32, b"a" * 32, b"ab" * 20, b"benchmark-key-not-secret-0123456789abcdef",
                                    b"change-me-change-me-0123456789abcdef"])
def test_a_weak_key_is_refused_by_the_key_itself(secret):
    """No code path can pseudonymise with a guessable key: the key object refuses it, not only load_key."""
    with pytest.raises(KeyProblem, match="generate one with"):
        PseudonymKey(secret)


# --- professionals -----------------------------------------------------------------------------------------


def test_staff_ids_become_professional_ids_and_are_dropped():
    table = visits([hetu(1, 1, 1980, 2)] * 3).append_column("ammattihenkilo_id", pa.array(["H100001", None, " "]))
    out = pseudonymise(table, IdentitySpec(**{**SPEC.__dict__, "staff_id": "ammattihenkilo_id"}), KEY)
    assert "ammattihenkilo_id" not in out.column_names
    first, missing, blank = out["professional_id"].to_pylist()
    assert PSEUDONYM.match(first) and "100001" not in first
    assert (missing, blank) == (None, None)  # not recorded stays null; a blank is not a professional
    assert first == professional_ids(pa.array(["H100001"]), "city", KEY)[0].as_py()


def test_professional_ids_keep_nulls_and_hash_each_distinct_id_once():
    got = professional_ids(pa.chunked_array([["H1", None], ["H1 ", "H2"]]), "city", KEY).to_pylist()
    assert got[1] is None
    assert got[0] == got[2] != got[3]  # trimmed: " H1" and "H1" are one professional


@settings(max_examples=100, deadline=None)
@given(st.one_of(valid_hetus().map(lambda case: case[0]), st.text(min_size=1, max_size=20).filter(str.strip)))
def test_a_professional_never_shares_a_pseudonym_with_a_resident(value):
    """The same characters as a staff id and as any resident identifier (HETU, temporary code, a partner's
    own person id) never give the same pseudonym: the professional domain is apart from them all."""
    professional = professional_ids(pa.array([value]), "city", KEY)[0].as_py()
    residents = {keyed_ids(pa.array([value.strip()]), domain, KEY)[0].as_py()
                 for domain in ("hetu", "temporary", "partner_local:city", "event:city")}
    assert professional not in residents
    assert professional != professional_ids(pa.array([value]), "mehilainen", KEY)[0].as_py()


def test_a_staff_id_that_is_a_hetu_does_not_link_to_the_person():
    code = hetu(1, 1, 1980, 2)
    table = visits([code]).append_column("ammattihenkilo_id", pa.array([code]))
    out = pseudonymise(table, IdentitySpec(**{**SPEC.__dict__, "staff_id": "ammattihenkilo_id"}), KEY)
    assert out["professional_id"][0].as_py() != out["person_id"][0].as_py()
