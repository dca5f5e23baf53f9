"""The synthetic data generator: reproducibility, formats, identity codes, FHIR integrity and faults."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
import random
import re
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from synthetic import city_visits as city_visits_module
from synthetic import fhir as fhir_module
from synthetic import generate, generate_population, main_summary_lines
from synthetic.schedule import period
from transforms.pseudonymise.hetu import CENTURY_BY_SIGN, HETU_PATTERN, birth_date, check_character

START = dt.date(2026, 10, 1)
SMALL = {"start": START, "days": 3, "residents": 400}
VISIT_HEADER_LINE = (
    "kaynti_id;henkilotunnus;sukunimi;etunimet;lahiosoite;postinumero;kotikunta;puhelin;palvelu;yhteystapa;"
    "ammattiryhma;toimipiste;alkuaika;kesto_min;tila;diagnoosi;diagnoosi_luokitus;asiakasmaksu;lisatieto;"
    "paivitetty;ammattihenkilo_id;hoidon_tarve_arvioitu;kiireellisyys"
)
VISIT_HEADER = VISIT_HEADER_LINE.split(";")
HETU_ANYWHERE = re.compile(r"\b\d{6}[-+YXWVUABCDEF]\d{3}[0-9A-Y]\b")


def tree_fingerprint(root: Path) -> dict[str, tuple[str, int]]:
    return {
        path.relative_to(root).as_posix(): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
        )
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def valid_hetu(code: str) -> bool:
    return bool(HETU_PATTERN.match(code)) and code[10] == check_character(code[:6], code[7:10])


def read_city_csv(path: Path, encoding: str) -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.reader(f, delimiter=";"))


def detect_city_encoding(path: Path) -> str:
    return "utf-8-sig" if path.read_bytes().startswith(codecs.BOM_UTF8) else "cp1252"


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("clean")
    lines: list[str] = []
    summary = generate(root, **SMALL, seed=11, fault_rate=0, progress=lines.append)
    summary["_progress"] = lines
    return root, summary


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("faulty")
    return root, generate(root, **SMALL, seed=42, fault_rate=0.03)


# --- reproducibility -----------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_mtimes(tmp_path):
    first = generate(tmp_path / "a", **SMALL, seed=7, fault_rate=0.03)
    second = generate(tmp_path / "b", **SMALL, seed=7, fault_rate=0.03)
    assert first == second
    assert tree_fingerprint(tmp_path / "a") == tree_fingerprint(tmp_path / "b")
    assert (tmp_path / "a" / "sources" / "city_reporting.sqlite").exists()


def test_different_seed_gives_different_files(tmp_path):
    generate(tmp_path / "a", **SMALL, seed=7)
    generate(tmp_path / "b", **SMALL, seed=8)
    a, b = tree_fingerprint(tmp_path / "a"), tree_fingerprint(tmp_path / "b")
    visits = "landing/city/city_visits/city_visits_20261001.csv"
    assert a[visits][0] != b[visits][0]


def test_regenerating_replaces_own_outputs_only(tmp_path):
    generate(tmp_path, **SMALL, seed=5)
    reference = tree_fingerprint(tmp_path)
    foreign = [tmp_path / "landing" / "other_partner" / "x.csv", tmp_path / "raw" / "keep.txt"]
    for path in foreign:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("keep")
    generate(tmp_path, **{**SMALL, "days": 2}, seed=5)
    assert not (tmp_path / "landing/city/city_visits/city_visits_20261003.csv").exists()
    generate(tmp_path, **SMALL, seed=5)
    assert all(path.read_text() == "keep" for path in foreign)
    for path in foreign:
        path.unlink()
    assert tree_fingerprint(tmp_path) == reference


def test_clean_data_do_not_depend_on_the_fault_rate(tmp_path):
    """Faults come from their own random stream: a file without faults is the same at any rate."""
    clean_summary = generate(tmp_path / "clean", **SMALL, seed=42, fault_rate=0)
    faulty_summary = generate(tmp_path / "faulty", **SMALL, seed=42, fault_rate=0.03)
    touched = {f["path"] for f in faulty_summary["faults"]} | {
        f.get("corrected_path") for f in faulty_summary["faults"]
    }
    clean_files = tree_fingerprint(tmp_path / "clean")
    faulty_files = tree_fingerprint(tmp_path / "faulty")
    same = [
        p
        for p in clean_files
        if p.startswith("landing/city/") and not any(t and p.startswith(t) for t in touched)
    ]
    assert same
    assert all(clean_files[p] == faulty_files[p] for p in same)
    assert clean_summary["faults"] == []


# --- population and identity codes ---------------------------------------------------------------------


def test_population_identity_codes_are_valid_and_cover_the_special_cases():
    population = generate_population(16_000, seed=42, reference_date=START)
    codes = [r.hetu for r in population.residents]
    assert len(set(codes)) == len(codes) == 16_000
    for resident in population.residents:
        code = resident.hetu
        assert valid_hetu(code), code
        assert birth_date(code) == resident.birth_date
        assert (int(code[7:10]) % 2 == 1) == (resident.sex == "M")
        assert 2 <= int(code[7:10]) <= 999
        assert 0 <= resident.age_on(START) <= 100
    signs = {code[6] for code in codes}
    assert signs & set("YXWVU") and signs & set("BCDEF")
    assert {"-", "A"} <= signs
    new_sign_share = sum(code[6] not in "-A" for code in codes) / len(codes)
    assert 0.01 < new_sign_share < 0.03
    temporary_share = sum(int(code[7:10]) >= 900 for code in codes) / len(codes)
    assert 0.005 < temporary_share < 0.02
    assert population.century_sign_twins
    for a, b in population.century_sign_twins:
        first, second = population.residents[a].hetu, population.residents[b].hetu
        assert first != second and first[:6] + first[7:] == second[:6] + second[7:]
        assert CENTURY_BY_SIGN[first[6]] == CENTURY_BY_SIGN[second[6]]
    postal_codes = {r.postal_code for r in population.residents}
    assert postal_codes == {"33310", "33300", "33330", "33340", "33400", "33410", "33420"}
    assert any(ch in r.surname + r.first_names for r in population.residents for ch in "äöå")


def test_every_identity_code_in_a_clean_run_is_valid(clean):
    root, _summary = clean
    seen = 0
    for path in sorted((root / "landing/city/city_visits").glob("*.csv")):
        for row in read_city_csv(path, detect_city_encoding(path))[1:]:
            assert valid_hetu(row[1]), row[1]
            seen += 1
    for path in sorted((root / "landing/mehilainen/mehilainen_fhir").glob("*/Patient.000.ndjson")):
        for line in path.read_text(encoding="utf-8").splitlines():
            for identifier in json.loads(line)["identifier"]:
                if identifier["system"] == "urn:oid:1.2.246.21":
                    assert valid_hetu(identifier["value"])
                    seen += 1
    assert seen > 20


def test_notable_people_visit_on_the_first_day(clean):
    root, summary = clean
    notable = summary["notable_records"]["city_visits"]
    path = root / "landing/city/city_visits/city_visits_20261001.csv"
    rows = {r[0]: r for r in read_city_csv(path, detect_city_encoding(path))[1:]}
    twins = [rows[k][1] for k in notable["century_sign_twins"]]
    assert len(twins) == 2 and twins[0][:6] + twins[0][7:] == twins[1][:6] + twins[1][7:]
    assert int(rows[notable["temporary_code"][0]][1][7:10]) >= 900


# --- the city's feeds ----------------------------------------------------------------------------------


def test_city_visits_csv_format(clean):
    root, summary = clean
    deliveries = summary["feeds"]["city_visits"]["deliveries"]
    assert [d["covers"] for d in deliveries] == [d.isoformat() for d in period(START, 3)]
    for delivery in deliveries:
        (file,) = delivery["files"]
        path = root / file["path"]
        raw = path.read_bytes()
        assert delivery["encoding"] in ("utf-8-sig", "cp1252")
        assert raw.startswith(codecs.BOM_UTF8) == (delivery["encoding"] == "utf-8-sig")
        text = raw.decode(delivery["encoding"])
        assert text.endswith("\r\n") and text.startswith(VISIT_HEADER_LINE + "\r\n")
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
        assert rows[0] == VISIT_HEADER
        assert len(rows) - 1 == file["rows"] > 0
        day = dt.date.fromisoformat(delivery["covers"])
        for row in rows[1:]:
            record = dict(zip(VISIT_HEADER, row, strict=True))
            assert re.fullmatch(r"K\d{9}", record["kaynti_id"])
            assert re.fullmatch(r"\d{5}", record["postinumero"])
            assert record["kotikunta"] in ("837", "211", "980", "604")
            assert record["palvelu"] in city_visits_module.SERVICES
            assert record["yhteystapa"] in ("R10", "R20", "R52", "R71", "R80")
            assert record["ammattiryhma"] in city_visits_module.SERVICES[record["palvelu"]].groups
            assert record["toimipiste"] == city_visits_module.SERVICES[record["palvelu"]].unit
            assert record["tila"] in ("toteutunut", "peruttu", "ei saapunut")
            assert re.fullmatch(r"\d+,\d{2}", record["asiakasmaksu"])
            assert 10 <= int(record["kesto_min"]) <= 90
            assert bool(record["diagnoosi"]) == bool(record["diagnoosi_luokitus"])
            assert record["diagnoosi_luokitus"] in ("", "ICPC2", "ICD10")
            updated = dt.datetime.strptime(record["paivitetty"], "%d.%m.%Y %H:%M")
            started = dt.datetime.strptime(record["alkuaika"], "%d.%m.%Y %H:%M")
            assert updated.date() == day and started.date() <= day
            born = birth_date(record["henkilotunnus"])
            age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
            if record["palvelu"] == "AITNEU":
                assert int(record["henkilotunnus"][7:10]) % 2 == 0 and 18 <= age <= 45
            if record["palvelu"] == "LANEU":
                assert age <= 6


def test_reporting_database_holds_the_latest_version_of_each_visit(clean):
    root, summary = clean
    latest: dict[str, dict[str, str]] = {}
    for delivery in summary["feeds"]["city_visits"]["deliveries"]:
        path = root / delivery["files"][0]["path"]
        for row in read_city_csv(path, delivery["encoding"])[1:]:
            record = dict(zip(VISIT_HEADER, row, strict=True))
            known = latest.get(record["kaynti_id"])
            stamp = dt.datetime.strptime(record["paivitetty"], "%d.%m.%Y %H:%M")
            if known is None or dt.datetime.strptime(known["paivitetty"], "%d.%m.%Y %H:%M") <= stamp:
                latest[record["kaynti_id"]] = record
    with sqlite3.connect(root / "sources/city_reporting.sqlite") as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM kaynnit ORDER BY kaynti_id")]
        indexes = [r[1] for r in db.execute("SELECT * FROM sqlite_master WHERE type = 'index'")]
        declared = {r[1]: r[2] for r in db.execute("PRAGMA table_info(kaynnit)")}
    assert list(rows[0]) == VISIT_HEADER
    assert any("paivitetty" in name for name in indexes)
    assert declared["kesto_min"] == "INTEGER" and declared["asiakasmaksu"].startswith("NUMERIC")
    assert [r["kaynti_id"] for r in rows] == sorted(latest)
    assert summary["sources"]["city_reporting"]["rows"] == len(rows)
    for row in rows:
        csv_record = latest[row["kaynti_id"]]
        for name in ("alkuaika", "paivitetty"):
            parsed = dt.datetime.strptime(row[name], "%Y-%m-%d %H:%M:%S")
            assert parsed.strftime("%d.%m.%Y %H:%M") == csv_record[name]
        assert f"{row['asiakasmaksu']:.2f}".replace(".", ",") == csv_record["asiakasmaksu"]
        assert row["kesto_min"] == int(csv_record["kesto_min"])
        for name in ("henkilotunnus", "palvelu", "tila", "diagnoosi", "lisatieto", "etunimet"):
            assert (row[name] or "") == csv_record[name]


def test_visits_are_updated_later_under_the_same_id():
    population = generate_population(3_000, seed=3, reference_date=START)
    simulated = city_visits_module.simulate(population, period(START, 14), seed=3)
    versions: dict[str, list[city_visits_module.Visit]] = {}
    for rows in simulated.by_day.values():
        ids = [v.kaynti_id for v in rows]
        assert len(ids) == len(set(ids))
        for visit in rows:
            versions.setdefault(visit.kaynti_id, []).append(visit)
    updated = {k: v for k, v in versions.items() if len(v) > 1}
    assert 0.005 < len(updated) / len(versions) < 0.05
    for history in updated.values():
        assert history[0].paivitetty < history[1].paivitetty
        assert history[0].alkuaika == history[1].alkuaika
        assert history[1].tila == "peruttu" or history[1].diagnoosi != history[0].diagnoosi
        assert simulated.latest[history[0].kaynti_id] == history[-1]


def test_other_city_feeds(clean):
    root, _summary = clean
    activity = root / "landing/city/city_activity/city_activity_20261001.csv"
    rows = read_city_csv(activity, detect_city_encoding(activity))
    assert rows[0] == ["pvm", "toimipiste", "palvelu", "mittari", "arvo"]
    assert {r[1] for r in rows[1:]} == {"NUORISOTALO_TESOMA", "KIRJASTO_TESOMA"}
    assert any("," in r[4] for r in rows[1:] if r[3] == "aukiolotunnit")
    access = root / "landing/city/city_access/city_access_20261002.csv"
    rows = read_city_csv(access, detect_city_encoding(access))
    assert rows[0] == ["pvm", "toimipiste", "ammattiryhma", "t3_vrk"]
    assert all(re.fullmatch(r"\d+,\d", r[3]) for r in rows[1:])
    assert rows[1][0] == "02.10.2026"


# --- Mehiläinen ----------------------------------------------------------------------------------------


def test_fhir_exports_are_complete_and_consistent(clean):
    root, _summary = clean
    folders = sorted((root / "landing/mehilainen/mehilainen_fhir").iterdir())
    assert [f.name for f in folders] == ["20261001", "20261002", "20261003"]
    for folder in folders:
        manifest_path = folder / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        assert {"transactionTime", "request", "requiresAccessToken", "output", "error"} <= set(manifest)
        resources = {}
        for output in manifest["output"]:
            path = folder / output["url"]
            lines = path.read_text(encoding="utf-8").splitlines()
            assert len(lines) == output["count"]
            resources[output["type"]] = [json.loads(line) for line in lines]
            assert all(r["resourceType"] == output["type"] for r in resources[output["type"]])
            assert path.stat().st_mtime_ns < manifest_path.stat().st_mtime_ns
        patients = {p["id"] for p in resources["Patient"]}
        encounters = {e["id"] for e in resources["Encounter"]}
        assert resources["Encounter"]
        for encounter in resources["Encounter"]:
            assert encounter["subject"]["reference"].removeprefix("Patient/") in patients
            assert encounter["class"]["code"] in ("AMB", "VR", "HH", "EMER", "IMP")
            assert encounter["period"]["start"][-6:] in ("+02:00", "+03:00")
        for condition in resources["Condition"]:
            assert condition["encounter"]["reference"].removeprefix("Encounter/") in encounters
            assert condition["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10"
        referenced = {e["subject"]["reference"].removeprefix("Patient/") for e in resources["Encounter"]}
        assert referenced == patients


def test_some_mehilainen_patients_have_no_identity_code():
    from synthetic.fhir import customers

    population = generate_population(4_000, seed=42, reference_date=START)
    chosen = customers(population, seed=42)
    assert 0.2 < len(chosen) / 4_000 < 0.3
    without = sum(not c.hetu_recorded for c in chosen) / len(chosen)
    assert 0.02 < without < 0.09


# --- NGOs, costs, reference population -----------------------------------------------------------------


def test_ngo_costs_and_population_files(clean):
    from openpyxl import load_workbook

    root, summary = clean
    workbook = load_workbook(root / "landing/ngo_mll/ngo_activity/ngo_activity_20261001.xlsx")
    assert workbook.sheetnames == ["toiminta", "osallistujat"]
    assert [c.value for c in workbook["toiminta"][1]][:4] == [
        "Päivämäärä",
        "Toimintamuoto",
        "Ryhmä",
        "Osallistujia",
    ]
    setlementti = root / "landing/ngo_setlementti/ngo_activity"
    sessions = (setlementti / "ngo_activity_20261001.csv").read_text(encoding="utf-8")
    assert sessions.startswith("pvm;toimintamuoto;ryhma;osallistujat_lkm;vapaaehtoiset_lkm\n")
    attendance = (setlementti / "ngo_activity_20261001_osallistujat.csv").read_text(encoding="utf-8")
    assert attendance.startswith("pvm;ryhma;jasennumero;suostumus;syntymavuosi;postinumero\n")
    assert not HETU_ANYWHERE.search(sessions + attendance)
    for partner in ("city", "mehilainen", "ngo_setlementti"):
        assert (root / f"landing/{partner}/costs/costs_202610.csv").exists()
    assert (root / "landing/ngo_mll/costs/costs_202610.xlsx").exists()
    costs = (root / "landing/mehilainen/costs/costs_202610.csv").read_text(encoding="utf-8").splitlines()
    assert costs[0] == "kuukausi;palvelualue;kustannus_eur"
    assert all(re.fullmatch(r"2026-10;[^;]+;\d+,\d{2}", line) for line in costs[1:])
    population_rows = list(
        csv.reader(
            io.StringIO((root / "landing/reference/population/population_2026.csv").read_text("utf-8")),
            delimiter=";",
        )
    )
    residents = generate_population(400, seed=11, reference_date=START).residents
    assert sum(int(r[5]) for r in population_rows[1:]) == sum(r.home_municipality == "837" for r in residents)
    assert summary["feeds"]["population"]["rows"] == 7 * 21 * 2


def test_progress_lines_carry_no_personal_data(clean):
    _root, summary = clean
    lines = summary["_progress"]
    assert any("city_visits" in line for line in lines)
    assert not any(HETU_ANYWHERE.search(line) for line in lines)


# --- faults --------------------------------------------------------------------------------------------


def test_clean_run_has_no_faults(clean):
    root, summary = clean
    assert summary["faults"] == []
    assert not list(root.rglob("*_2.csv"))
    on_disk = json.loads((root / "landing/_generated.json").read_text(encoding="utf-8"))
    assert on_disk == {k: v for k, v in summary.items() if k != "_progress"}


def test_every_fault_kind_is_injected_and_recorded(faulty):
    root, summary = faulty
    kinds = {f["kind"] for f in summary["faults"]}
    assert kinds == {"wrong_encoding", "duplicate_rows", "invalid_codes", "late_file", "redelivery"}
    on_disk = json.loads((root / "landing/_generated.json").read_text(encoding="utf-8"))
    assert on_disk["faults"] == summary["faults"]
    delivered_ids = {
        fault_id for feed in summary["feeds"].values() for d in feed["deliveries"] for fault_id in d["faults"]
    }
    assert delivered_ids == {f["id"] for f in summary["faults"]}


def _faults(summary: dict, kind: str) -> list[dict]:
    return [f for f in summary["faults"] if f["kind"] == kind]


def test_duplicate_rows_are_really_duplicated(faulty):
    root, summary = faulty
    for fault in _faults(summary, "duplicate_rows"):
        path = root / fault["path"]
        if path.suffix == ".ndjson":
            records = path.read_text(encoding="utf-8").splitlines()
        else:
            records = read_city_csv(path, detect_city_encoding(path))[1:]
        for copy, original in zip(fault["rows"], fault["duplicate_of"], strict=True):
            assert records[copy - 1] == records[original - 1]
        assert len({json.dumps(r) for r in records}) < len(records)


def test_invalid_codes_are_really_invalid(faulty):
    root, summary = faulty
    for fault in _faults(summary, "invalid_codes"):
        if fault["feed"] != "city_visits":
            continue
        path = root / fault["path"]
        records = read_city_csv(path, detect_city_encoding(path))
        header, rows = records[0], records[1:]
        for detail in fault["details"]:
            value = rows[detail["row"] - 1][header.index(detail["column"])]
            if detail["column"] == "henkilotunnus":
                assert not valid_hetu(value)
            elif detail["column"] == "alkuaika":
                with pytest.raises(ValueError):
                    dt.datetime.strptime(value, "%d.%m.%Y %H:%M")
            else:
                assert value not in city_visits_module.SERVICES and value not in (
                    "R10",
                    "R20",
                    "R52",
                    "R71",
                    "R80",
                )


def test_wrong_encoding_is_not_readable_in_an_agreed_encoding(faulty):
    root, summary = faulty
    for fault in _faults(summary, "wrong_encoding"):
        raw = (root / fault["path"]).read_bytes()
        if fault["variant"] == "utf16":
            assert raw.startswith(codecs.BOM_UTF16_LE)
            continue
        for encoding in ("utf-8-sig", "cp1252"):
            if encoding == "cp1252" and raw.startswith(codecs.BOM_UTF8):
                continue
            with pytest.raises(UnicodeDecodeError):
                raw.decode(encoding)


def test_late_file_arrives_two_days_late(faulty):
    root, summary = faulty
    for fault in _faults(summary, "late_file"):
        expected = dt.datetime.fromisoformat(fault["expected_at"])
        arrived = dt.datetime.fromisoformat(fault["arrived_at"])
        assert arrived - expected == dt.timedelta(days=2)
        path = root / fault["path"]
        files = [path / "manifest.json"] if path.is_dir() else [path]
        assert all(f.stat().st_mtime == arrived.timestamp() for f in files)


def test_redelivery_replaces_the_first_file(faulty):
    root, summary = faulty
    for fault in _faults(summary, "redelivery"):
        first, second = root / fault["path"], root / fault["corrected_path"]
        assert second.name == first.name.replace(".csv", "_2.csv")
        assert second.stat().st_mtime > first.stat().st_mtime
        first_rows = {r[0]: r for r in read_city_csv(first, detect_city_encoding(first))[1:]}
        second_rows = {r[0]: r for r in read_city_csv(second, detect_city_encoding(second))[1:]}
        for key in fault["keys"]:
            assert key in second_rows
            assert first_rows.get(key) != second_rows[key]
        deliveries = [
            d for d in summary["feeds"]["city_visits"]["deliveries"] if d["covers"] == fault["date"]
        ]
        assert [d["sequence"] for d in deliveries] == [1, 2]
        assert deliveries[1]["replaces"] == fault["path"]


def _visit_table(rows: int = 40):
    from synthetic.fileformats import Table

    population = generate_population(300, seed=1, reference_date=START)
    simulated = city_visits_module.simulate(population, period(START, 1), seed=1)
    visits = simulated.by_day[START][:rows]
    return Table(list(VISIT_HEADER), [v.csv_row() for v in visits])


@pytest.mark.parametrize("variant", ["utf16", "mixed_encoding", "broken_bytes"])
def test_each_wrong_encoding_variant_breaks_decoding(variant):
    from synthetic import faults

    table = _visit_table()
    for attempt in range(50):
        data, detail = faults.encode_wrongly(table.copy(), "utf-8-sig", random.Random(attempt))
        if detail["variant"] == variant:
            break
    else:
        pytest.fail(f"variant {variant} never drawn")
    if variant == "utf16":
        assert data.decode("utf-16").splitlines()[0].split(";") == VISIT_HEADER
        return
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8-sig")
    readable = data.decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(readable, newline=""), delimiter=";"))
    assert len(rows) - 1 == len(table.rows)
    assert all("\ufffd" in ";".join(rows[n]) for n in detail["rows"])


@pytest.mark.parametrize("variant", ["missing_rows", "corrected_rows"])
def test_each_redelivery_variant_differs_from_the_corrected_file(variant):
    from synthetic import faults

    table = _visit_table()
    for attempt in range(50):
        first = table.copy()
        detail = faults.degrade_for_redelivery(first, random.Random(attempt))
        if detail["variant"] == variant:
            break
    else:
        pytest.fail(f"variant {variant} never drawn")
    complete = {row[0]: row for row in table.rows}
    degraded = {row[0]: row for row in first.rows}
    assert detail["keys"]
    for key in detail["keys"]:
        assert degraded.get(key) != complete[key]
    assert all(degraded[k] == complete[k] for k in degraded if k not in detail["keys"])


def test_invalid_fhir_codes_are_recorded_where_they_are():
    from synthetic import faults, fhir

    population = generate_population(2_000, seed=2, reference_date=START)
    patients, encounters, _conditions = fhir._Clinic(population, seed=2).day(START)
    problems = faults.invalid_fhir_codes(patients, encounters, random.Random(4), None)
    assert problems
    for problem in problems:
        resources = patients if problem["resourceType"] == "Patient" else encounters
        resource = resources[problem["row"] - 1]
        assert resource["id"] == problem["id"]
        if problem["field"] == "identifier.value":
            hetus = [i["value"] for i in resource["identifier"] if i["system"] == "urn:oid:1.2.246.21"]
            assert not valid_hetu(hetus[0])
        elif problem["field"] == "class.code":
            assert resource["class"]["code"] not in fhir.CLASSES
        else:
            with pytest.raises(ValueError):
                dt.datetime.fromisoformat(resource["period"]["start"])


def test_summary_lines(faulty):
    _root, summary = faulty
    text = "\n".join(main_summary_lines(summary))
    for feed in ("city_visits", "city_activity", "city_access", "mehilainen_fhir", "ngo_activity", "costs"):
        assert feed in text
    assert "redelivery" in text and "_generated.json" in text


def test_default_run_has_a_handful_of_faults_of_every_kind():
    """The default seed and rate over 30 days (only the plan: no files are written)."""
    from synthetic.faults import KINDS, FaultPlan

    plan = FaultPlan.draw(42, 0.03, period(START, 30))
    planned = [kind for kinds in plan.planned.values() for kind, _forced in kinds]
    assert set(planned) == set(KINDS)
    assert 5 <= len(planned) <= 20


# --- professionals and care-need assessments -------------------------------------------------------------


def _usual_provider_share(contacts: dict[tuple, list[str]]) -> float:
    """Mean share of a client's contacts (3 or more, one unit and group) with their most seen professional."""
    shares = [Counter(ids).most_common(1)[0][1] / len(ids) for ids in contacts.values() if len(ids) >= 3]
    return sum(shares) / len(shares)


def test_clients_mostly_see_their_named_professional_but_not_always():
    population = generate_population(2_000, seed=5, reference_date=START)
    simulated = city_visits_module.simulate(population, period(START, 60), seed=5)
    contacts: dict[tuple, list[str]] = {}
    for visit in simulated.latest.values():
        assert re.fullmatch(r"H\d{6}", visit.ammattihenkilo_id)
        contacts.setdefault((visit.resident.number, visit.toimipiste, visit.ammattiryhma), []).append(
            visit.ammattihenkilo_id)
    upc = _usual_provider_share(contacts)
    assert 0.6 < upc < 0.85  # continuity, with spread: COC/UPC/SECON are not all 1
    staff = {v.ammattihenkilo_id for v in simulated.latest.values()}
    assert len(staff) == sum(sum(groups.values()) for groups in city_visits_module.STAFF.values())


def test_assessments_come_before_visits_with_realistic_waits():
    population = generate_population(3_000, seed=6, reference_date=START)
    simulated = city_visits_module.simulate(population, period(START, 30), seed=6)
    visits = list(simulated.latest.values())
    waits: dict[str, list[int]] = {"K": [], "E": []}
    for v in visits:
        if v.palvelu in ("AITNEU", "LANEU"):
            assert v.hoidon_tarve_arvioitu is None and v.kiireellisyys == ""  # booked at the previous visit
        if v.hoidon_tarve_arvioitu is None:
            assert v.kiireellisyys == ""
            continue
        assert v.hoidon_tarve_arvioitu < v.alkuaika
        waits[v.kiireellisyys].append((v.alkuaika.date() - v.hoidon_tarve_arvioitu.date()).days)
    assessed = sum(map(len, waits.values()))
    assessed_services = [v for v in visits if v.palvelu in city_visits_module.ASSESSED_SERVICES]
    assert 0.85 < assessed / len(assessed_services) < 0.95  # about one in ten not recorded
    assert max(waits["K"]) <= 1  # urgent: the same day or the next
    non_urgent = waits["E"]
    assert max(non_urgent) <= 30
    within_7 = sum(d <= 7 for d in non_urgent) / len(non_urgent)
    within_14 = sum(d <= 14 for d in non_urgent) / len(non_urgent)
    assert 0.60 <= within_7 <= 0.75 and within_14 > 0.85


def test_fhir_encounters_carry_a_performer_a_priority_and_an_assessment():
    population = generate_population(4_000, seed=7, reference_date=START)
    clinic = fhir_module._Clinic(population, seed=7)
    encounters = [e for day in period(START, 20) for e in clinic.day(day)[1]]
    performers = [e["participant"][0]["individual"]["reference"] for e in encounters]
    assert all(p.startswith("Practitioner/") for p in performers)
    with_priority = [e for e in encounters if "priority" in e]
    assert 0.85 < len(with_priority) / len(encounters) < 0.95
    for e in with_priority:
        (extension,) = e["extension"]
        assert extension["url"] == fhir_module.CARE_NEED_ASSESSED
        assessed = dt.datetime.fromisoformat(extension["valueDateTime"])
        assert assessed < dt.datetime.fromisoformat(e["period"]["start"])
        assert e["priority"]["coding"][0]["code"] in {"EM", "UR", "R"}
