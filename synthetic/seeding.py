"""Named random streams, so that every part of the simulated world is reproducible on its own.

Each part of the generator (the population, the city's visits, Mehiläinen's customers, the fault plan…)
draws from its own :class:`random.Random`, seeded from the run's seed plus a name. Python seeds a
``Random`` from a string through SHA-512, independent of ``PYTHONHASHSEED`` and of dict order, so the
same arguments always give the same world. Separate streams also mean that changing one thing (say
``fault_rate``) does not reshuffle the others: a clean run and a faulty run with the same seed hold the
same visits, and the faults are the only difference.
"""

from __future__ import annotations

import random
import uuid


def stream(seed: int, *names: object) -> random.Random:
    """The random stream called ``names`` within the world of ``seed``."""
    return random.Random("|".join(["tesoma-synthetic", str(seed), *map(str, names)]))


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (reproducible, unlike :func:`uuid.uuid4`)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
