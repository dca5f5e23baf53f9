"""Great Expectations, imported once per process, quietly, with an ephemeral context.

GX takes seconds to import, so nothing imports this module at DAG-parse time. Its logging is capped
at WARNING because its results can hold row values, and no row data may reach logs.
"""

from __future__ import annotations

import logging

logging.getLogger("great_expectations").setLevel(logging.WARNING)

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402

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
