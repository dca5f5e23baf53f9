"""Which of a partner's deliveries for one date counts (:func:`warehouse.ledger.newest`): only a delivery that
passed validation (staged, published, superseded) ever displaces another — never one that is still landed
(not ingested, or its ingest under way or failed) or rejected. Given the date's ledger → the one that counts."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from warehouse.ledger import Delivery, newest

DAY = dt.date(2026, 10, 1)


def delivery(sequence: int, state: str, minute: int = 0) -> Delivery:
    return Delivery(delivery_id=f"d{sequence}-{minute}", partner="city", feed="city_visits", delivery_date=DAY,
                    sequence=sequence, source_name=f"f_{sequence}.csv", sha256="0" * 64, raw_path="raw/x",
                    state=state, arrived_at=dt.datetime(2026, 10, 2, 6, minute, tzinfo=dt.UTC))


@pytest.mark.parametrize(("given", "counts"), [
    # (sequence, state) of the date's deliveries → the sequence of the one that counts
    # a correction still landed displaces nothing …
    ([(1, "published"), (2, "landed")], 1),
    ([(1, "staged"), (2, "landed")], 1),                    # … also before the original is published
    ([(1, "superseded"), (2, "landed")], 1),                # … and an original it displaced counts again
    ([(1, "superseded"), (2, "published"), (3, "landed")], 2),
    # … nor does a rejected one
    ([(1, "published"), (2, "rejected")], 1),
    ([(1, "superseded"), (2, "rejected")], 1),
    ([(1, "published"), (2, "rejected"), (3, "landed")], 1),
    # a correction that passed validation does
    ([(1, "published"), (2, "staged")], 2),
    ([(1, "superseded"), (2, "published")], 2),
    ([(1, "superseded"), (2, "superseded"), (3, "rejected")], 2),  # the newest valid one, wherever it is
    ([(1, "rejected"), (2, "staged")], 2),
    ([(1, "landed"), (2, "staged")], 2),                    # an older one not ingested yet is displaced
    # nothing valid yet: the newest waiting for its ingest, else the newest rejected (what status shows)
    ([(1, "landed")], 1),
    ([(1, "landed"), (2, "landed")], 2),
    ([(1, "rejected"), (2, "landed")], 2),
    ([(1, "landed"), (2, "rejected")], 1),
    ([(1, "rejected"), (2, "rejected")], 2),
])
def test_only_a_validated_delivery_displaces_another(given, counts):
    for order in itertools.permutations(given):  # the ledger's order does not matter
        assert newest(delivery(seq, state) for seq, state in order).sequence == counts


@pytest.mark.parametrize(("resent_state", "counts"), [
    # the same name sent again (same sequence, arrives 5 minutes later) → which of the two counts
    ("staged", "resent"),
    ("published", "resent"),
    ("landed", "first"),
    ("rejected", "first"),
])
def test_a_resend_under_the_same_name_counts_only_once_validated(resent_state, counts):
    first, resent = delivery(1, "published", minute=0), delivery(1, resent_state, minute=5)
    assert newest([first, resent]) == {"first": first, "resent": resent}[counts]
    assert newest([resent, first]) == {"first": first, "resent": resent}[counts]


def test_newest_of_nothing_says_so():
    with pytest.raises(ValueError, match="at least one delivery"):
        newest([])
