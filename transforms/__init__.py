"""Pure transforms on Arrow tables: no I/O, no connectors, testable without Airflow."""
