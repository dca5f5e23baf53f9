"""Diagnosis codes the synthetic visits carry, with their Finnish display texts.

Finnish primary care records a visit's reason either in ICPC-2 (the International Classification of
Primary Care, favoured by nurses and many GPs) or in ICD-10 (the Finnish edition, THL's ICD-10). Both
appear in the city's extract, with the classification named next to the code (``ICPC2``/``ICD10``);
Mehiläinen's FHIR export uses ICD-10 only. The lists hold the common reasons for a health-centre visit
with rough relative frequencies; they are a sample, not the classifications.
"""

from __future__ import annotations

import random

ICPC2_SYSTEM = "ICPC2"
ICD10_SYSTEM = "ICD10"

ICPC2: dict[str, tuple[str, int]] = {
    # code: (display, relative frequency)
    "R74": ("Ylähengitystieinfektio", 14),
    "R05": ("Yskä", 6),
    "L03": ("Alaselän oireet", 8),
    "L15": ("Polven oireet", 4),
    "K86": ("Verenpainetauti ilman elinvaurioita", 9),
    "T90": ("Diabetes, ei insuliinihoitoinen", 6),
    "P76": ("Masennus", 5),
    "P74": ("Ahdistuneisuushäiriö", 4),
    "A97": ("Ei sairautta", 4),
    "A98": ("Terveyden ylläpito, ennaltaehkäisy", 6),
    "S88": ("Kosketusihottuma / muu ihottuma", 3),
    "U71": ("Virtsarakon tulehdus", 4),
    "D73": ("Suolistotulehdus, todennäköisesti infektio", 3),
    "W78": ("Raskaus", 2),
}

ICD10: dict[str, tuple[str, int]] = {
    "J06.9": ("Äkillinen ylähengitystieinfektio, määrittämätön", 14),
    "J20.9": ("Äkillinen keuhkoputkitulehdus, määrittämätön", 4),
    "I10": ("Verenpainetauti", 10),
    "E11.9": ("Tyypin 2 diabetes ilman komplikaatioita", 6),
    "E78.0": ("Puhdas hyperkolesterolemia", 3),
    "M54.5": ("Alaselän kipu", 8),
    "M25.5": ("Nivelkipu", 3),
    "F32.1": ("Keskivaikea masennustila", 5),
    "F41.1": ("Yleistynyt ahdistuneisuushäiriö", 4),
    "N39.0": ("Virtsatieinfektio, paikka määrittämätön", 4),
    "L30.9": ("Ihottuma, määrittämätön", 3),
    "H66.9": ("Välikorvatulehdus, määrittämätön", 3),
    "J45.9": ("Astma, määrittämätön", 3),
    "S93.4": ("Nilkan nyrjähdys", 2),
    "R51": ("Päänsärky", 2),
    "Z00.0": ("Yleinen lääkärintarkastus", 3),
}

DENTAL_ICD10 = {
    "K02.1": ("Hammasluun karies", 5),
    "K05.1": ("Krooninen ientulehdus", 3),
    "K08.8": ("Muu hampaiden ja tukikudosten sairaus", 1),
}
MATERNITY = {
    "Z34.0": ("Normaalin ensiraskauden seuranta", 3),
    "Z34.8": ("Muun normaalin raskauden seuranta", 2),
}


def pick(rng: random.Random, codes: dict[str, tuple[str, int]]) -> str:
    keys = list(codes)
    return rng.choices(keys, weights=[codes[k][1] for k in keys])[0]


ICD10_ALL = {**ICD10, **DENTAL_ICD10, **MATERNITY}


def icd10_display(code: str) -> str:
    return ICD10_ALL[code][0]
