"""The orchestration side: everything that knows Airflow beyond the DAG files themselves.

- :mod:`orchestration.delivery_sensor` — the deferrable "wait for the partner's files" sensor and the
  deadline alert the feed DAGs use;
- :mod:`orchestration.env` — the environment an Airflow process of this project runs with;
- :mod:`orchestration.stack` — ``tesoma airflow``: the standalone UI with the demo data loaded;
- :mod:`orchestration.ui` — REST/UI helpers (log in, trigger, wait, screenshot) for checks and smoke tests.

The pipeline itself (``tesoma.steps``) never imports this package: it runs without Airflow.
"""
