"""Environment for running Airflow on the embedded default (SQLite metadata DB under the data root).

Set before Airflow is imported; values already in the environment win, so production settings are
never overridden.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from tesoma.config import PROJECT_DIR, Settings


def configure(settings: Settings) -> Path:
    home = settings.data_root / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    jwt_file = home / "jwt_secret"
    if not jwt_file.exists():
        fd = os.open(jwt_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(64))  # Airflow wants 64+ bytes
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_DIR / "plugins"),  # orchestration/plugin.py
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Europe/Helsinki",
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_file.read_text().strip(),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "TESOMA_DATA_ROOT": str(settings.data_root),
        "TESOMA_RETRY_DELAY_SECONDS": "2",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    return home
