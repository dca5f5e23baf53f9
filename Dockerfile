# syntax=docker/dockerfile:1
# Airflow image of the Tesoma pipeline: the official Apache Airflow image plus this project,
# installed non-editable with the dependency versions locked in uv.lock.
# Built by docker-compose.yml (`docker-compose build`); see docs/operations.md.

ARG UV_VERSION=0.13.9

# uv only exports the lock to a requirements file; it is not part of the final image.
FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# --- stage 1: uv.lock -> requirements.txt (pinned, with hashes) -----------------------------------
FROM apache/airflow:3.3.2-python3.11 AS requirements
# A throw-away stage: uv (not pip) runs as root here; nothing is installed.
USER root
COPY --from=uv /uv /usr/local/bin/uv
WORKDIR /tmp/lock
COPY pyproject.toml uv.lock ./
# The runtime dependencies, exactly as locked (--frozen: never re-resolve, fail if the lock is stale).
# psycopg (the ledger's PostgreSQL driver, TESOMA_LEDGER_URL=postgresql+psycopg://...) is locked in
# the dev group only, so its locked, hashed pins are appended unless the runtime set has it already.
RUN uv export --quiet --frozen --no-dev --no-emit-project --no-annotate --output-file requirements.txt \
    && if ! grep -q '^psycopg==' requirements.txt; then \
         uv export --quiet --frozen --only-group dev --no-emit-project --no-annotate \
           | awk '/^psycopg(-binary)?==/ {p = 1} p {print} p && !/\\$/ {p = 0}' >> requirements.txt; \
       fi \
    && grep -q '^psycopg==' requirements.txt \
    && { grep -qE "^apache-airflow==${AIRFLOW_VERSION:?}( |\$)" requirements.txt \
         || { echo "uv.lock pins another apache-airflow than the base image (${AIRFLOW_VERSION}):" >&2; \
              grep -E '^apache-airflow==' requirements.txt >&2; exit 1; }; }

# --- stage 2: the image --------------------------------------------------------------------------
FROM apache/airflow:3.3.2-python3.11

USER root
RUN mkdir -p /opt/tesoma/app /opt/tesoma/data \
    && chown -R airflow:0 /opt/tesoma \
    && chmod -R g+rwX /opt/tesoma
# The official image refuses `pip install` as root: everything below runs as `airflow`.
USER airflow

# Dependencies first (this layer is rebuilt only when uv.lock or pyproject.toml change).
COPY --from=requirements --chown=airflow:0 /tmp/lock/requirements.txt /opt/tesoma/requirements.txt
RUN pip install --no-cache-dir -r /opt/tesoma/requirements.txt

# The project itself (what is copied is filtered by .dockerignore), non-editable, no dependency changes.
COPY --chown=airflow:0 . /opt/tesoma/app
RUN pip install --no-cache-dir --no-deps /opt/tesoma/app \
    && mkdir -p /opt/airflow/dags \
    && if [ -d /opt/tesoma/app/dags ]; then cp -R /opt/tesoma/app/dags/. /opt/airflow/dags/; fi \
    && (pip check || echo "WARNING: pip check reports conflicts between uv.lock and packages preinstalled in the Airflow image (see above)" >&2) \
    && python -c "import tesoma, orchestration, connectors, transforms, expectations, warehouse"

# Non-Python files read at run time come from the copy of the checkout (the installed packages
# do not carry contracts/ and config/). Secrets are never baked in: they come from the environment.
ENV TESOMA_DATA_ROOT=/opt/tesoma/data \
    TESOMA_CONTRACTS_DIR=/opt/tesoma/app/contracts \
    TESOMA_MAPPINGS_DIR=/opt/tesoma/app/config/mappings \
    TESOMA_FEEDS_CONFIG=/opt/tesoma/app/config/feeds.yaml

WORKDIR /opt/airflow
