"""The Airflow plugin: the API server also serves each delivery's Data Docs and quarantine report.

The ``ingest`` task's extra links (:mod:`orchestration.delivery_tasks`) point here, under ``/tesoma``:

- ``/tesoma/deliveries/<delivery id>/data-docs`` — the delivery's Great Expectations result page(s);
- ``/tesoma/deliveries/<delivery id>/quarantine`` — its ``report.md`` (why it was rejected, or which rows
  were set aside, by rule and row number);
- ``/tesoma/data-docs/…`` — the whole Data Docs site (offline: no CDN, see :mod:`expectations.data_docs`);
- ``/tesoma/reports/latest`` and ``/tesoma/reports/<publication id>`` — the alliance scorecard's monthly
  report (``published/<id>/report.html``, self-contained), linked from the UI's *Browse* menu
  (``external_views``) and from the ``monthly_report`` DAG's docs. Only ``published/`` is served, never the
  restricted marts.

Why served rather than ``file://`` links: a browser does not follow a ``file://`` link from an ``http://``
page, and the operator's browser need not run on the machine that holds the data root. What is served
holds counts, rule names and row numbers only: never ``rows.parquet`` nor anything else under
``quarantine/`` (identifiable rows), and nothing from ``raw/``. Like Airflow's own plugin apps these pages
ask for no login; the API server listens where Airflow's UI does.

Loaded from the ``plugins/`` folder (``AIRFLOW__CORE__PLUGINS_FOLDER``, set by :mod:`orchestration.env`
and :mod:`orchestration.stack`).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from airflow.plugins_manager import AirflowPlugin

from orchestration.delivery_tasks import URL_PREFIX
from orchestration.timetable import BackfillOnlyTimetable, DeliveryDateTimetable

_DELIVERY_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _data_root() -> Path:
    from tesoma.config import settings

    return settings().data_root


def data_docs_pages(site: Path, delivery_id: str) -> list[Path]:
    """The delivery's result pages in the site (one per suite: the contract's, each canonical table's)."""
    return sorted((site / "validations").rglob(f"{delivery_id}.html")) if (site / "validations").is_dir() else []


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:60em}pre{white-space:pre-wrap;"
            "background:#f6f6f6;padding:1em}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")


def create_app():
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import HTMLResponse, RedirectResponse
    from fastapi.staticfiles import StaticFiles

    from expectations.data_docs import site_dir
    from tesoma.config import settings

    app = FastAPI(title="Tesoma: delivery pages")

    def checked(delivery_id: str) -> str:
        if not _DELIVERY_ID.match(delivery_id):
            raise HTTPException(404, "not a delivery id")
        return delivery_id

    @app.get("/deliveries/{delivery_id}/data-docs", response_class=HTMLResponse)
    def data_docs(delivery_id: str):
        from expectations.data_docs import render_delivery

        site = site_dir(settings())
        checked(delivery_id)
        render_delivery(settings(), delivery_id)  # pages a busy build left for later are rendered on request
        pages = data_docs_pages(site, delivery_id)
        if len(pages) == 1:
            return RedirectResponse(f"{URL_PREFIX}/data-docs/{pages[0].relative_to(site).as_posix()}")
        if not pages:
            return HTMLResponse(_page(f"No Data Docs for {delivery_id}", (
                "<p>Nothing was validated (a delivery rejected before its rows were read has no results), or "
                "the catalog has not been refreshed since this delivery (the <code>catalog</code> DAG builds "
                f"the Data Docs). <a href='{URL_PREFIX}/data-docs/index.html'>All Data Docs</a></p>")), 404)
        items = "".join(f"<li><a href='{URL_PREFIX}/data-docs/{html.escape(p.relative_to(site).as_posix())}'>"
                        f"{html.escape('.'.join(p.relative_to(site / 'validations').parts[:-3]))}</a></li>"
                        for p in pages)
        return HTMLResponse(_page(f"Data Docs of {delivery_id}", f"<ul>{items}</ul>"))

    @app.get("/deliveries/{delivery_id}/quarantine", response_class=HTMLResponse)
    def quarantine_report(delivery_id: str):
        root = _data_root() / "quarantine"
        reports = sorted(root.glob(f"*/{checked(delivery_id)}/report.md")) if root.is_dir() else []
        if not reports:
            return HTMLResponse(_page(f"No quarantine report for {delivery_id}",
                                      "<p>Every row of this delivery was accepted (or it has been purged).</p>"), 404)
        text = reports[0].read_text(encoding="utf-8")
        return HTMLResponse(_page(f"Quarantine report of {delivery_id}", f"<pre>{html.escape(text)}</pre>"))

    @app.get("/reports/latest", response_class=HTMLResponse)
    def latest_report():
        from scorecard import publication

        latest = publication.latest(_data_root())
        if latest is None:
            return HTMLResponse(_page("No scorecard report yet", (
                "<p>Nothing is published yet: the <code>monthly_report</code> DAG publishes the previous month on "
                "the 5th, or run <code>tesoma report --month YYYY-MM</code>.</p>")), 404)
        return report_page(latest.publication_id)

    @app.get("/reports/{publication_id}", response_class=HTMLResponse)
    def report_page(publication_id: str):
        from scorecard import publication

        if not publication.ID_PATTERN.match(publication_id):
            raise HTTPException(404, "not a publication id (like 2026-10-1)")
        page = _data_root() / "published" / publication_id / "report.html"
        if not page.is_file():
            known = publication.list_ids(_data_root())
            items = "".join(f"<li><a href='{URL_PREFIX}/reports/{html.escape(i)}'>{html.escape(i)}</a></li>"
                            for i in reversed(known))
            return HTMLResponse(_page(f"No publication {publication_id}", f"<ul>{items}</ul>" if items else ""), 404)
        return HTMLResponse(page.read_text(encoding="utf-8"))

    # check_dir=False: the site appears when the catalog DAG first builds it
    app.mount("/data-docs", StaticFiles(directory=site_dir(settings()), html=True, check_dir=False),
              name="data-docs")
    return app


class TesomaPlugin(AirflowPlugin):
    name = "tesoma"
    # runs named by feed and delivery date; history DAGs' months made by backfills only (orchestration/timetable.py)
    timetables = [DeliveryDateTimetable, BackfillOnlyTimetable]
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Tesoma delivery pages"}]
    # The latest monthly scorecard report, in the UI's Browse menu (shown inside the UI: url_route).
    external_views = [{"name": "Scorecard report", "href": f"{URL_PREFIX}/reports/latest", "destination": "nav",
                       "category": "browse", "url_route": "scorecard-report"}]
