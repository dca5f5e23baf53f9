"""Every partner's monthly costs per service area (contract: costs): CSV, or an Excel workbook from
partners who keep their books in Excel (ngo_mll)."""

from __future__ import annotations

from connectors.spreadsheet import SpreadsheetConnector


class Costs(SpreadsheetConnector):
    feed = "costs"
