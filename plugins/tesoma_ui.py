"""Airflow's plugins folder (``AIRFLOW__CORE__PLUGINS_FOLDER``): the Tesoma plugin lives in the orchestration
package; this file only makes Airflow find it (see orchestration/plugin.py)."""

from orchestration.plugin import TesomaPlugin

__all__ = ["TesomaPlugin"]
