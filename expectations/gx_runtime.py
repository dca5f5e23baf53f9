"""Great Expectations, imported once per process, quietly, with an ephemeral context.

GX takes seconds to import, so nothing imports this module at DAG-parse time. Its logging is capped
at WARNING because its results can hold row values, and no row data may reach logs.
"""

from __future__ import annotations

import logging

logging.getLogger("great_expectations").setLevel(logging.WARNING)

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
from great_expectations.execution_engine import pandas_execution_engine  # noqa: E402

# GX fingerprints every pandas batch by hashing all its values (an md5 over hash_pandas_object) just to
# label the batch in its results. We never use that label, and on a 2,000,000-row delivery hashing cost
# more than the validation itself (8 of 10 s). Frames above this size are not fingerprinted: make it all.
pandas_execution_engine.HASH_THRESHOLD = 0

for _name in list(logging.root.manager.loggerDict):
    if _name.startswith("great_expectations"):
        logging.getLogger(_name).setLevel(logging.WARNING)

_context = None


def context():
    """A process-wide ephemeral data context (suites and results are stored by us, in the ledger)."""
    global _context
    if _context is None:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        _context = gx.get_context(mode="ephemeral")
        _context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return _context


__all__ = ["context", "gx", "gxe"]
