"""Finnish given names and surnames for the synthetic residents.

Names follow generations roughly: people born before 1970 get the names common then (Marjatta, Pertti),
younger people today's (Aino, Eetu). A few Swedish-speaking Finns' names (Åsa, Håkan, Öhman) are mixed
in. Every name fits Windows-1252, the other encoding the city's exports use, and many carry ä, ö or å so
that a wrongly decoded file shows up immediately.
"""

from __future__ import annotations

import random

FEMALE_OLDER = (
    "Marjatta",
    "Sinikka",
    "Tuula",
    "Ritva",
    "Päivi",
    "Sirpa",
    "Pirjo",
    "Leena",
    "Kaarina",
    "Anneli",
    "Hannele",
    "Eila",
    "Terttu",
    "Sari",
    "Minna",
    "Tiina",
    "Riitta",
    "Seija",
    "Helena",
    "Liisa",
    "Mervi",
    "Elsa",
    "Sylvi",
    "Irmeli",
    "Åsa",
    "Marja-Leena",
    "Pälvi",
    "Kyllikki",
)
FEMALE_YOUNGER = (
    "Aino",
    "Helmi",
    "Eevi",
    "Sofia",
    "Aada",
    "Ella",
    "Pihla",
    "Venla",
    "Lilja",
    "Siiri",
    "Iida",
    "Aurora",
    "Emilia",
    "Ronja",
    "Elli",
    "Oona",
    "Enni",
    "Jenni",
    "Heidi",
    "Johanna",
    "Hanna",
    "Sanna",
    "Säde",
    "Ilona",
    "Kerttu",
    "Nelli",
    "Minea",
    "Linnéa",
)
MALE_OLDER = (
    "Pertti",
    "Seppo",
    "Matti",
    "Kari",
    "Jorma",
    "Timo",
    "Pekka",
    "Jari",
    "Markku",
    "Heikki",
    "Esa",
    "Ilkka",
    "Jyrki",
    "Tapio",
    "Väinö",
    "Reijo",
    "Raimo",
    "Erkki",
    "Hannu",
    "Juha",
    "Mikko",
    "Antero",
    "Håkan",
    "Göran",
    "Åke",
    "Yrjö",
    "Tuomo",
)
MALE_YOUNGER = (
    "Eetu",
    "Onni",
    "Leo",
    "Elias",
    "Oliver",
    "Veeti",
    "Aleksi",
    "Ville",
    "Eino",
    "Väinö",
    "Niilo",
    "Lauri",
    "Tuomas",
    "Joonas",
    "Kalle",
    "Jussi",
    "Otto",
    "Aatu",
    "Lenni",
    "Juho",
    "Mikael",
    "Sampo",
    "Topias",
    "Jönne",
    "Ahti",
    "Toivo",
    "Eemil",
)
SECOND_NAMES_FEMALE = ("Maria", "Johanna", "Kristiina", "Sofia", "Elina", "Katariina", "Annikki", "Lotta")
SECOND_NAMES_MALE = ("Juhani", "Johannes", "Tapani", "Olavi", "Kalevi", "Mikael", "Aleksanteri", "Ilmari")

SURNAMES = (
    "Korhonen",
    "Virtanen",
    "Mäkinen",
    "Nieminen",
    "Mäkelä",
    "Hämäläinen",
    "Laine",
    "Heikkinen",
    "Koskinen",
    "Järvinen",
    "Lehtonen",
    "Lehtinen",
    "Saarinen",
    "Salminen",
    "Heinonen",
    "Niemi",
    "Heikkilä",
    "Kinnunen",
    "Salonen",
    "Turunen",
    "Salo",
    "Laitinen",
    "Tuominen",
    "Rantanen",
    "Karjalainen",
    "Jokinen",
    "Mattila",
    "Savolainen",
    "Lahtinen",
    "Ahonen",
    "Räsänen",
    "Kärkkäinen",
    "Jääskeläinen",
    "Pöllänen",
    "Määttä",
    "Hyvönen",
    "Kivelä",
    "Ylönen",
    "Söderström",
    "Åberg",
    "Öhman",
    "Sjöblom",
    "Lindqvist",
    "Nyström",
)


def first_names(rng: random.Random, sex: str, birth_year: int) -> str:
    """One or two given names (``"Aino Maria"``) fitting the person's sex and generation."""
    older = birth_year < 1970
    if sex == "F":
        first = rng.choice(FEMALE_OLDER if older else FEMALE_YOUNGER)
        second = SECOND_NAMES_FEMALE
    else:
        first = rng.choice(MALE_OLDER if older else MALE_YOUNGER)
        second = SECOND_NAMES_MALE
    if rng.random() < 0.7:
        return f"{first} {rng.choice(second)}"
    return first


def surname(rng: random.Random) -> str:
    return rng.choice(SURNAMES)
