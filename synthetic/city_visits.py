"""The City of Tampere's person-level visits at the Tesoma wellbeing centre (feed ``city_visits``).

The city's own service producers run six services under the centre's roof. Each visit is recorded in
the patient/client record system and reported with Avohilmo-style codes:

=========  ===========================  =============  =====================================
palvelu    service                      toimipiste     who sees the client (ammattiryhma)
=========  ===========================  =============  =====================================
TK_VO      primary care (health centre) TESOMA_TK      LAAK physician, SH nurse
SHT        dental care                  TESOMA_SHT     HLAAK dentist, SUUHYG dental hygienist
AITNEU     maternity clinic             TESOMA_NEU     TH public-health nurse, LAAK physician
LANEU      child clinic                 TESOMA_NEU     TH public-health nurse, LAAK physician
SOSNEU     social counselling           TESOMA_SOS     SOSTT social worker, SOHJ social instructor
HYVNEU     wellbeing counselling        TESOMA_SOS     SH nurse, TH public-health nurse, SOHJ
=========  ===========================  =============  =====================================

Contact modes (``yhteystapa``, Avohilmo): R10 office visit, R20 home visit, R52 video, R71 phone,
R80 letter or e-message. Status (``tila``): ``toteutunut`` completed, ``peruttu`` cancelled, ``ei
saapunut`` no-show (which costs an adult the 51,50 € no-show fee).

The simulation runs day by day. Working days bring about 350–500 new visits per 16,000 residents, other
days about a tenth of that (on-call primary care and emergency dental care). About 3% of visits are
changed later (a diagnosis corrected or added, a visit marked cancelled after all); the change is a new
version of the same ``kaynti_id`` with a later ``paivitetty``. A day's extract holds every version whose
``paivitetty`` falls on that day; the city's reporting database holds the latest version of each visit.

Who and when, for continuity of care and waiting times (drawn from streams of their own, so the visits
themselves are the same as without them):

- ``ammattihenkilo_id``: each unit has a staff of a few professionals per group (:data:`STAFF`). A client
  has a named professional per unit and group ("omalääkäri", "omahoitaja") and sees them with probability
  :data:`NAMED_PROFESSIONAL_SHARE`, else another professional of the same unit and group.
- ``hoidon_tarve_arvioitu`` and ``kiireellisyys`` (AvoHILMO's K urgent / E non-urgent): recorded for
  primary care, dental care and counselling visits (:data:`ASSESSED_SERVICES`), except for about one in
  ten where the assessment was not recorded; clinic (neuvola) check-ups are booked at the previous visit
  and carry none. Urgent visits happen the day of the assessment or the next; non-urgent ones 0–30 days
  after it, about two thirds within 7 days and nine in ten within 14 (THL's reported waits for
  non-urgent primary-care physician visits have been of that order). Weekend and holiday visits are on-call
  care: urgent. The assessment is always before the visit starts.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from synthetic import clinical_codes
from synthetic.population import Population, Resident
from synthetic.schedule import is_working_day, wait_days
from synthetic.seeding import stream

COLUMNS = (
    "kaynti_id",
    "henkilotunnus",
    "sukunimi",
    "etunimet",
    "lahiosoite",
    "postinumero",
    "kotikunta",
    "puhelin",
    "palvelu",
    "yhteystapa",
    "ammattiryhma",
    "toimipiste",
    "alkuaika",
    "kesto_min",
    "tila",
    "diagnoosi",
    "diagnoosi_luokitus",
    "asiakasmaksu",
    "lisatieto",
    "paivitetty",
    "ammattihenkilo_id",
    "hoidon_tarve_arvioitu",
    "kiireellisyys",
)
FINNISH_DATETIME = "%d.%m.%Y %H:%M"

COMPLETED, CANCELLED, NO_SHOW = "toteutunut", "peruttu", "ei saapunut"
NO_SHOW_FEE_CENTS = 5150
PHYSICIAN_VISIT_FEE_CENTS = 2090
DENTIST_FEES_CENTS = (1380, 2280, 3660, 5120, 7960)
HYGIENIST_FEES_CENTS = (1060, 2080)

WEEKDAY_VISITS_PER_16000 = (350, 500)
OTHER_DAY_SHARE = 0.10
UPDATE_SHARE = 0.03


@dataclass(frozen=True)
class Service:
    """One of the city's services: where it is given, by whom, how, and to whom."""

    code: str
    unit: str
    share: float
    modes: dict[str, float]
    groups: dict[str, float]
    eligible: Callable[[Resident, dt.date, dt.date], bool]
    weight: Callable[[Resident, dt.date], float] = lambda r, day: 1.0


def _primary_care_weight(resident: Resident, day: dt.date) -> float:
    age = resident.age_on(day)
    return 0.7 if age < 18 else 1.0 if age < 65 else 2.0 if age < 80 else 2.8


def _any(resident: Resident, first: dt.date, last: dt.date) -> bool:
    return True


def _adult(resident: Resident, first: dt.date, last: dt.date) -> bool:
    return resident.age_on(first) >= 18


def _pregnancy_age_woman(resident: Resident, first: dt.date, last: dt.date) -> bool:
    """Maternity clinic clients: women aged 18–45 on every day of the period."""
    return resident.sex == "F" and resident.age_on(first) >= 18 and resident.age_on(last) <= 45


def _young_child(resident: Resident, first: dt.date, last: dt.date) -> bool:
    """Child clinic clients: children aged 0–6 on every day of the period."""
    return resident.age_on(last) <= 6


SERVICES: dict[str, Service] = {
    s.code: s
    for s in (
        Service(
            "TK_VO",
            "TESOMA_TK",
            0.45,
            {"R10": 0.70, "R71": 0.18, "R52": 0.07, "R80": 0.03, "R20": 0.02},
            {"LAAK": 0.55, "SH": 0.45},
            _any,
            _primary_care_weight,
        ),
        Service(
            "SHT",
            "TESOMA_SHT",
            0.20,
            {"R10": 0.97, "R71": 0.03},
            {"HLAAK": 0.65, "SUUHYG": 0.35},
            lambda r, first, last: r.age_on(first) >= 1,
        ),
        Service(
            "AITNEU",
            "TESOMA_NEU",
            0.06,
            {"R10": 0.85, "R71": 0.10, "R20": 0.05},
            {"TH": 0.9, "LAAK": 0.1},
            _pregnancy_age_woman,
        ),
        Service(
            "LANEU",
            "TESOMA_NEU",
            0.09,
            {"R10": 0.85, "R20": 0.10, "R71": 0.05},
            {"TH": 0.9, "LAAK": 0.1},
            _young_child,
        ),
        Service(
            "SOSNEU",
            "TESOMA_SOS",
            0.10,
            {"R10": 0.60, "R71": 0.25, "R52": 0.10, "R20": 0.05},
            {"SOSTT": 0.6, "SOHJ": 0.4},
            _adult,
        ),
        Service(
            "HYVNEU",
            "TESOMA_SOS",
            0.10,
            {"R10": 0.65, "R52": 0.15, "R71": 0.15, "R80": 0.05},
            {"SH": 0.4, "TH": 0.2, "SOHJ": 0.4},
            _adult,
        ),
    )
}
OTHER_DAY_SERVICES = {"TK_VO": 0.8, "SHT": 0.2}
"""On weekends and public holidays only on-call primary care and emergency dental care are open."""

DURATION_MIN = {"R10": (15, 60), "R20": (45, 90), "R52": (15, 30), "R71": (10, 20), "R80": (10, 10)}

NOTES = (
    "Kontrolli 3 kk kuluttua",
    "Lähete laboratorioon; verikokeet ennen seuraavaa käyntiä",
    "{name} toivoo yhteydenottoa iltapäivällä",
    "Soitto takaisin; ei vastannut",
    "Tulkki tarvitaan (arabia)",
    'Asiakas ilmoitti "ei pääse" tekstiviestillä',
    "Maksu laskutetaan kotiin, 20,90 €",
    "Rokotus annettu; seuraava tehoste 2 v",
    "{name}:n omainen soitti, sovittu uusi aika",
    "Sovittu jatkoaika.\nTuo lääkelista mukaan.",
    "Reseptin uusinta",
    "{name} kertoi muuttaneensa; osoite tarkistettava",
)
NOTE_SHARE = 0.18

STAFF = {  # unit → professional group → how many professionals of the group work there
    "TESOMA_TK": {"LAAK": 8, "SH": 10},
    "TESOMA_SHT": {"HLAAK": 5, "SUUHYG": 4},
    "TESOMA_NEU": {"TH": 8, "LAAK": 2},
    "TESOMA_SOS": {"SOSTT": 4, "SOHJ": 5, "SH": 3, "TH": 2},
}
NAMED_PROFESSIONAL_SHARE = 0.65
ASSESSED_SERVICES = {"TK_VO": 0.30, "SHT": 0.15, "SOSNEU": 0.08, "HYVNEU": 0.05}
"""Services that record a care-need assessment, with the share of their working-day visits assessed urgent."""
UNRECORDED_ASSESSMENT_SHARE = 0.10
URGENT, NON_URGENT = "K", "E"
NON_URGENT_WAIT_DAYS = ((0.66, 0, 7), (0.24, 8, 14), (0.10, 15, 30))
"""(share, first, last day): the days from a non-urgent assessment to the visit."""


@dataclass(frozen=True)
class Visit:
    """One version of a visit record, with the values the city's system holds (local Helsinki times)."""

    kaynti_id: str
    resident: Resident
    palvelu: str
    yhteystapa: str
    ammattiryhma: str
    toimipiste: str
    alkuaika: dt.datetime
    kesto_min: int
    tila: str
    diagnoosi: str
    diagnoosi_luokitus: str
    asiakasmaksu_cents: int
    lisatieto: str
    paivitetty: dt.datetime
    ammattihenkilo_id: str = ""
    hoidon_tarve_arvioitu: dt.datetime | None = None
    kiireellisyys: str = ""

    def csv_row(self) -> list[str]:
        """The row as the CSV export writes it (Finnish dates, decimal comma)."""
        r = self.resident
        return [
            self.kaynti_id,
            r.hetu,
            r.surname,
            r.first_names,
            r.street_address,
            r.postal_code,
            r.home_municipality,
            r.phone,
            self.palvelu,
            self.yhteystapa,
            self.ammattiryhma,
            self.toimipiste,
            self.alkuaika.strftime(FINNISH_DATETIME),
            str(self.kesto_min),
            self.tila,
            self.diagnoosi,
            self.diagnoosi_luokitus,
            format_euros(self.asiakasmaksu_cents),
            self.lisatieto,
            self.paivitetty.strftime(FINNISH_DATETIME),
            self.ammattihenkilo_id,
            self.hoidon_tarve_arvioitu.strftime(FINNISH_DATETIME) if self.hoidon_tarve_arvioitu else "",
            self.kiireellisyys,
        ]

    def database_row(self) -> dict[str, object]:
        """The row as the reporting database holds it (native types; empty text as NULL)."""
        row = dict(zip(COLUMNS, self.csv_row(), strict=True))
        for name in ("diagnoosi", "diagnoosi_luokitus", "lisatieto", "ammattihenkilo_id", "kiireellisyys"):
            row[name] = row[name] or None
        row.update(
            hoidon_tarve_arvioitu=self.hoidon_tarve_arvioitu,
            alkuaika=self.alkuaika,
            paivitetty=self.paivitetty,
            kesto_min=self.kesto_min,
            asiakasmaksu=round(self.asiakasmaksu_cents / 100, 2),
        )
        return row


def format_euros(cents: int) -> str:
    """``2090`` → ``20,90`` (decimal comma, two decimals)."""
    return f"{cents // 100},{cents % 100:02d}"


@dataclass
class CityVisits:
    """The outcome of the simulation: the versions delivered per day and the latest state."""

    by_day: dict[dt.date, list[Visit]]
    latest: dict[str, Visit]
    showcase: dict[str, list[str]] = field(default_factory=dict)
    """Visit ids of people the pipeline must handle with care (century-sign twins, temporary codes)."""


class _Pools:
    """Who can use each service, with cumulative selection weights (bisect-friendly)."""

    def __init__(self, population: Population, first: dt.date, last: dt.date) -> None:
        self.members: dict[str, list[Resident]] = {}
        self.cumulative: dict[str, list[float]] = {}
        for code, service in SERVICES.items():
            members = [r for r in population.residents if service.eligible(r, first, last)]
            self.members[code] = members
            self.cumulative[code] = list(itertools.accumulate(service.weight(r, first) for r in members))

    def draw(self, rng: random.Random, code: str) -> Resident | None:
        cumulative = self.cumulative[code]
        if not cumulative:
            return None
        position = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
        return self.members[code][min(position, len(cumulative) - 1)]


def _choose(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class _Staff:
    """The units' professionals, and each client's named professional per unit and group."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        numbers = rng.sample(range(100_000, 1_000_000), sum(sum(g.values()) for g in STAFF.values()))
        self.ids = {unit: {group: [f"H{numbers.pop()}" for _ in range(n)] for group, n in groups.items()}
                    for unit, groups in STAFF.items()}
        self.named: dict[tuple[int, str, str], str] = {}

    def professional(self, resident: Resident, unit: str, group: str) -> str:
        staff = self.ids[unit][group]
        rng = self.rng
        key = (resident.number, unit, group)
        named = self.named.get(key)
        if named is None:
            named = self.named[key] = rng.choice(staff)
        if rng.random() < NAMED_PROFESSIONAL_SHARE or len(staff) == 1:
            return named
        return rng.choice([s for s in staff if s != named])


class _Simulation:
    def __init__(self, population: Population, days: list[dt.date], seed: int) -> None:
        self.population = population
        self.days = days
        self.rng = stream(seed, "city_visits")
        self.pools = _Pools(population, days[0], days[-1])
        self.next_id = self.rng.randint(100_000_000, 300_000_000)
        self.scale = len(population.residents) / 16_000
        self.pending_updates: dict[dt.date, list[str]] = {}
        self.latest: dict[str, Visit] = {}
        self.staff = _Staff(stream(seed, "city_visits", "staff"))
        self.waits = stream(seed, "city_visits", "assessment")

    def _new_id(self) -> str:
        kaynti_id = f"K{self.next_id:09d}"
        self.next_id += self.rng.randint(1, 4)  # the gaps are other areas' visits
        return kaynti_id

    def _start_time(self, day: dt.date, service: str) -> dt.datetime:
        rng = self.rng
        if not is_working_day(day):
            minutes = rng.randrange(9 * 60, 15 * 60, 15)
        elif service == "TK_VO" and rng.random() < 0.10:
            minutes = rng.randrange(16 * 60, 19 * 60, 15)  # evening reception
        else:
            minutes = rng.randrange(8 * 60, 16 * 60, 15)
        return dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minutes)

    def _assessment(self, day: dt.date, service: str, start: dt.datetime) -> tuple[dt.datetime | None, str]:
        """When the care need was assessed and how urgent it was judged (none for unassessed services)."""
        rng = self.waits
        urgent_share = ASSESSED_SERVICES.get(service)
        if urgent_share is None or rng.random() < UNRECORDED_ASSESSMENT_SHARE:
            return None, ""
        if not is_working_day(day) or rng.random() < urgent_share:
            if rng.random() < 0.75:  # the same day, up to a few hours before
                return start - dt.timedelta(minutes=rng.randrange(20, 240, 5)), URGENT
            previous_day = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(8, 0))
            return previous_day + dt.timedelta(minutes=rng.randrange(0, 11 * 60, 5)), URGENT
        days = wait_days(rng, NON_URGENT_WAIT_DAYS)
        if days == 0:
            return start - dt.timedelta(minutes=rng.randrange(30, 300, 5)), NON_URGENT
        office = dt.datetime.combine(day - dt.timedelta(days=days), dt.time(8, 0))
        return office + dt.timedelta(minutes=rng.randrange(0, 8 * 60, 5)), NON_URGENT

    def _diagnosis(self, service: str) -> tuple[str, str]:
        rng = self.rng
        if service == "TK_VO" and rng.random() < 0.8:
            if rng.random() < 0.5:
                return clinical_codes.pick(rng, clinical_codes.ICPC2), clinical_codes.ICPC2_SYSTEM
            return clinical_codes.pick(rng, clinical_codes.ICD10), clinical_codes.ICD10_SYSTEM
        if service == "SHT" and rng.random() < 0.3:
            return clinical_codes.pick(rng, clinical_codes.DENTAL_ICD10), clinical_codes.ICD10_SYSTEM
        if service == "AITNEU" and rng.random() < 0.2:
            return clinical_codes.pick(rng, clinical_codes.MATERNITY), clinical_codes.ICD10_SYSTEM
        if service in ("LANEU", "HYVNEU") and rng.random() < 0.1:
            return "A98", clinical_codes.ICPC2_SYSTEM
        return "", ""

    def _fee(self, resident: Resident, day: dt.date, service: str, mode: str, group: str, tila: str) -> int:
        adult = resident.age_on(day) >= 18
        if tila == CANCELLED or not adult:
            return 0
        if tila == NO_SHOW:
            return NO_SHOW_FEE_CENTS
        if service == "TK_VO" and group == "LAAK" and mode in ("R10", "R20", "R52"):
            return PHYSICIAN_VISIT_FEE_CENTS
        if service == "SHT" and mode == "R10":
            return self.rng.choice(DENTIST_FEES_CENTS if group == "HLAAK" else HYGIENIST_FEES_CENTS)
        return 0

    def new_visit(self, day: dt.date, service_code: str, resident: Resident) -> Visit:
        rng = self.rng
        service = SERVICES[service_code]
        mode = _choose(rng, service.modes)
        group = _choose(rng, service.groups)
        start = self._start_time(day, service_code)
        low, high = DURATION_MIN[mode]
        duration = rng.randrange(low, high + 1, 5) if high > low else low
        roll = rng.random()
        tila = CANCELLED if roll < 0.06 else NO_SHOW if roll < 0.10 and mode in ("R10", "R20") else COMPLETED
        diagnosis, system = self._diagnosis(service_code) if tila == COMPLETED else ("", "")
        note = rng.choice(NOTES).format(name=resident.given_name) if rng.random() < NOTE_SHARE else ""
        if tila == CANCELLED:  # called off earlier the same day
            opening = dt.datetime.combine(day, dt.time(7, 0))
            latest = max(0, int((start - opening).total_seconds() // 60) - 15)
            updated = opening + dt.timedelta(minutes=rng.randint(0, latest))
        else:
            updated = start + dt.timedelta(minutes=duration + rng.randrange(5, 95, 5))
        updated = min(updated, dt.datetime.combine(day, dt.time(23, 55)))
        assessed, urgency = self._assessment(day, service_code, start)
        return Visit(
            kaynti_id=self._new_id(),
            resident=resident,
            palvelu=service_code,
            yhteystapa=mode,
            ammattiryhma=group,
            toimipiste=service.unit,
            alkuaika=start,
            kesto_min=duration,
            tila=tila,
            diagnoosi=diagnosis,
            diagnoosi_luokitus=system,
            asiakasmaksu_cents=self._fee(resident, day, service_code, mode, group, tila),
            lisatieto=note,
            paivitetty=updated,
            ammattihenkilo_id=self.staff.professional(resident, service.unit, group),
            hoidon_tarve_arvioitu=assessed,
            kiireellisyys=urgency,
        )

    def _updated_version(self, visit: Visit, day: dt.date) -> Visit:
        """A later change to a visit: a diagnosis corrected or added, or the visit marked cancelled."""
        rng = self.rng
        updated = dt.datetime.combine(day, dt.time(8, 0)) + dt.timedelta(minutes=rng.randrange(0, 8 * 60, 5))
        if visit.tila == COMPLETED and visit.diagnoosi and rng.random() < 0.6:
            table = {
                clinical_codes.ICPC2_SYSTEM: clinical_codes.ICPC2,
                clinical_codes.ICD10_SYSTEM: clinical_codes.ICD10,
            }[visit.diagnoosi_luokitus]
            others = {code: v for code, v in table.items() if code != visit.diagnoosi}
            return replace(visit, diagnoosi=clinical_codes.pick(rng, others), paivitetty=updated)
        if (
            visit.tila == COMPLETED
            and visit.palvelu == "TK_VO"
            and not visit.diagnoosi
            and rng.random() < 0.5
        ):
            return replace(
                visit,
                diagnoosi=clinical_codes.pick(rng, clinical_codes.ICD10),
                diagnoosi_luokitus=clinical_codes.ICD10_SYSTEM,
                paivitetty=updated,
            )
        return replace(
            visit,
            tila=CANCELLED,
            diagnoosi="",
            diagnoosi_luokitus="",
            asiakasmaksu_cents=0,
            paivitetty=updated,
        )

    def _schedule_update(self, visit: Visit, day: dt.date) -> None:
        if visit.tila == CANCELLED or self.rng.random() >= UPDATE_SHARE:
            return
        later = day + dt.timedelta(days=self.rng.randint(1, 7))
        while not is_working_day(later):
            later += dt.timedelta(days=1)
        self.pending_updates.setdefault(later, []).append(visit.kaynti_id)

    def run_day(self, day: dt.date, forced: list[Resident]) -> tuple[list[Visit], list[str]]:
        """The versions updated on ``day``, and the ids of the visits made for ``forced`` people."""
        rng = self.rng
        low, high = WEEKDAY_VISITS_PER_16000
        if is_working_day(day):
            count = round(rng.uniform(low, high) * self.scale)
            mix = {code: s.share for code, s in SERVICES.items()}
        else:
            count = round(rng.uniform(low, high) * OTHER_DAY_SHARE * self.scale)
            mix = OTHER_DAY_SERVICES
        rows: list[Visit] = []
        for kaynti_id in self.pending_updates.pop(day, []):
            version = self._updated_version(self.latest[kaynti_id], day)
            self.latest[kaynti_id] = version
            rows.append(version)
        new: list[Visit] = [self.new_visit(day, "TK_VO", resident) for resident in forced]
        for _ in range(count):
            code = _choose(rng, mix)
            resident = self.pools.draw(rng, code)
            if resident is None:  # nobody eligible in a tiny population
                code, resident = "TK_VO", self.pools.draw(rng, "TK_VO")
            if resident is not None:
                visit = self.new_visit(day, code, resident)
                new.append(visit)
                self._schedule_update(visit, day)
        for visit in new:
            self.latest[visit.kaynti_id] = visit
        rows.extend(new)
        rows.sort(key=lambda v: (v.paivitetty, v.kaynti_id))
        return rows, [v.kaynti_id for v in new[: len(forced)]]


def showcase_residents(population: Population) -> dict[str, list[Resident]]:
    """People whose identity codes test the pipeline's HETU handling; they visit on the first day."""
    people = population.residents
    twins = [people[n] for pair in population.century_sign_twins for n in pair]
    temporary = next((r for r in people if int(r.hetu[7:10]) >= 900), None)
    twin_numbers = {r.number for r in twins}
    new_sign = next((r for r in people if r.hetu[6] not in "-A" and r.number not in twin_numbers), None)
    return {
        "century_sign_twins": twins,
        "temporary_code": [temporary] if temporary else [],
        "new_century_sign": [new_sign] if new_sign else [],
    }


def simulate(population: Population, days: list[dt.date], seed: int) -> CityVisits:
    """Run the city's services over the period."""
    simulation = _Simulation(population, days, seed)
    by_day: dict[dt.date, list[Visit]] = {}
    showcase = showcase_residents(population)
    forced = [r for group in showcase.values() for r in group]
    forced_ids: list[str] = []
    for index, day in enumerate(days):
        by_day[day], ids = simulation.run_day(day, forced if index == 0 else [])
        forced_ids.extend(ids)
    showcase_ids: dict[str, list[str]] = {}
    position = 0
    for kind, group in showcase.items():
        showcase_ids[kind] = forced_ids[position : position + len(group)]
        position += len(group)
    return CityVisits(by_day, dict(sorted(simulation.latest.items())), showcase_ids)
