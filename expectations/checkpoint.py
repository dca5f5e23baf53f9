"""Run an expectation suite over a pandas frame through a Great Expectations ``Checkpoint``, and reduce
its result to counts and rule names.

One ``Checkpoint`` (with one ``ValidationDefinition``) per suite name is registered in the process-wide
context of :mod:`expectations.gx_runtime` and reused across calls. Callers rebuild their suites on every
call under the same name: an unchanged suite reuses the registered objects as they are; a changed one
(another contract version, another rule list) replaces them through the context's ``add_or_update``.

Kept small, because it runs 10–20 times per delivery:

- no actions; the result format is ``COMPLETE`` with ``partial_unexpected_count`` 0 (the runner needs
  ``unexpected_index_list`` to find the failing rows, and nothing else);
- GX's validation results store keeps nothing (:class:`UnkeptValidationResultsStore`). By default a
  checkpoint serialises every full result — offending values included — into that store: that was most
  of its cost on a large frame, and a copy of row values in memory for the life of the process. The
  results that are kept are :func:`sanitise`'s, written by :mod:`expectations.data_docs`.
"""

from __future__ import annotations

import copy
import threading
from typing import TYPE_CHECKING, Any

from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
from great_expectations.data_context.store.validation_results_store import ValidationResultsStore

from expectations.gx_runtime import context, gx

if TYPE_CHECKING:
    import pandas as pd

RESULT_FORMAT = {"result_format": "COMPLETE", "partial_unexpected_count": 0}
DATASOURCE = "tesoma"
BATCH_DEFINITION = "whole"
UNKEPT_RESULTS_STORE = "tesoma_unkept_validation_results"


class UnkeptValidationResultsStore(ValidationResultsStore):
    """A validation results store that keeps nothing: a checkpoint's full results hold row values."""

    def store_validation_results(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        return None


_lock = threading.Lock()
_registered: dict[str, tuple[tuple, gx.Checkpoint]] = {}  # suite name → (suite fingerprint, checkpoint)
_registered_in: list = [None]  # the context the checkpoints belong to


def run(frame: pd.DataFrame, suite: gx.ExpectationSuite) -> ExpectationSuiteValidationResult:
    """Validate ``frame`` against ``suite`` with the suite's checkpoint; the full GX result (values
    included: keep it in memory only, pass :func:`sanitise` of it on)."""
    result = checkpoint_for(suite).run(batch_parameters={"dataframe": frame})
    (validation,) = result.run_results.values()
    return validation


def checkpoint_for(suite: gx.ExpectationSuite) -> gx.Checkpoint:
    """The registered checkpoint for ``suite.name``, (re)registered when the suite's rules changed."""
    ctx = context()
    fingerprint = _fingerprint(suite)
    with _lock:
        if _registered_in[0] is not ctx:  # a new context (e.g. a test reset gx_runtime): start over
            _registered.clear()
            _registered_in[0] = ctx
            _keep_no_results(ctx)
        known = _registered.get(suite.name)
        if known is not None and known[0] == fingerprint:
            return known[1]
        # A copy: registering gives the expectations ids, and the caller's suite stays the caller's.
        definition = gx.ValidationDefinition(name=suite.name, data=_batch_definition(ctx, suite.name),
                                             suite=copy.deepcopy(suite))
        checkpoint = ctx.checkpoints.add_or_update(gx.Checkpoint(
            name=suite.name, validation_definitions=[definition], actions=[], result_format=RESULT_FORMAT))
        _registered[suite.name] = (fingerprint, checkpoint)
        return checkpoint


def _fingerprint(suite: gx.ExpectationSuite) -> tuple:
    """What makes two suites the same rules: ids (given by the store) left out, order kept."""
    return (suite.name, repr(suite.meta), repr(suite.suite_parameters),
            tuple((e.expectation_type, repr(e.dict(exclude={"id", "rendered_content"}))) for e in suite.expectations))


def _keep_no_results(ctx) -> None:
    if UNKEPT_RESULTS_STORE not in ctx.stores:
        ctx.add_store(UNKEPT_RESULTS_STORE, {"class_name": UnkeptValidationResultsStore.__name__,
                                             "module_name": __name__})
    ctx.validation_results_store_name = UNKEPT_RESULTS_STORE


def _batch_definition(ctx, asset_name: str):
    try:
        source = ctx.data_sources.get(DATASOURCE)
    except (KeyError, ValueError):
        source = ctx.data_sources.add_pandas(DATASOURCE)
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION)
    except (KeyError, ValueError):
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


# --- sanitising -------------------------------------------------------------------------------------

COUNTS = ("element_count", "missing_count", "missing_percent", "unexpected_count", "unexpected_percent",
          "unexpected_percent_total", "unexpected_percent_nonmissing")
"""The only keys of an expectation's ``result`` that are kept: counts and percentages."""

COUNT_OBSERVATIONS = frozenset({
    "expect_table_row_count_to_be_between", "expect_table_row_count_to_equal",
    "expect_table_row_count_to_equal_other_table", "expect_table_column_count_to_be_between",
    "expect_table_column_count_to_equal", "expect_column_unique_value_count_to_be_between",
    "expect_column_proportion_of_unique_values_to_be_between"})
"""Expectations whose ``observed_value`` is a count or a share, never a row's value. For every other one
(min, max, mean, median, most common value, value lengths …) the observed value is dropped."""

BATCH_META = ("datasource_name", "data_connector_name", "data_asset_name")
RESULT_META = ("great_expectations_version", "run_id", "validation_time", "checkpoint_id", "validation_id")


def exception_of(r) -> str | None:
    """The message of the exception an expectation raised, or None. GX reports it either at the top of
    ``exception_info`` or, when a metric failed (e.g. a missing column), per metric inside it."""
    info = r.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for nested in info.values():
        if isinstance(nested, dict) and nested.get("raised_exception"):
            return str(nested.get("exception_message"))
    return None


def _severity(config) -> str:
    severity = getattr(config, "severity", None)
    return str(getattr(severity, "value", severity) or "critical")


def sanitise(result: ExpectationSuiteValidationResult) -> dict:
    """``result`` as a JSON-ready dict (the shape of ``ExpectationSuiteValidationResult.to_json_dict()``)
    holding counts, percentages, success flags and the rules only.

    Dropped: ``unexpected_list``, ``partial_unexpected_list``/``_counts``/``_index_list``,
    ``unexpected_index_list``, ``unexpected_index_query``, ``details``, ``observed_value`` (except where it
    is a count), exception messages and tracebacks (they can quote a value), rendered content, suite
    parameters and the batch markers (a fingerprint of the data). Kept from each expectation: its type,
    ``kwargs`` (rule parameters from the contracts and canonical suites — column names, regexes, value
    sets, bounds — never row data) and ``meta`` (rule name, column, advice, severity).

    Built field by field from a whitelist — never by serialising the full result and deleting, so a
    field GX adds later stays out, and the (possibly huge) value lists are never copied.
    """
    from great_expectations.util import convert_to_json_serializable

    results = []
    for r in result.results:
        config = r.expectation_config
        kept = {k: r.result[k] for k in COUNTS if r.result and r.result.get(k) is not None}
        if config.type in COUNT_OBSERVATIONS and isinstance((r.result or {}).get("observed_value"), int | float):
            kept["observed_value"] = r.result["observed_value"]
        raised = exception_of(r) is not None
        results.append({
            "success": bool(r.success),
            "expectation_config": convert_to_json_serializable({
                "type": config.type, "kwargs": dict(config.kwargs), "meta": dict(config.meta or {}),
                "id": config.id, "severity": _severity(config)}),
            "result": convert_to_json_serializable(kept),
            "meta": {},
            "exception_info": {"raised_exception": raised, "exception_message": None, "exception_traceback": None},
        })
    meta = {k: result.meta[k] for k in RESULT_META if result.meta.get(k) is not None}
    batch = result.meta.get("active_batch_definition") or {}
    meta["active_batch_definition"] = {k: batch[k] for k in BATCH_META if k in batch}
    return {
        "success": bool(result.success),
        "suite_name": result.suite_name,
        "statistics": convert_to_json_serializable(dict(result.statistics)),
        "suite_parameters": {},
        "meta": convert_to_json_serializable(meta),
        "results": results,
    }
