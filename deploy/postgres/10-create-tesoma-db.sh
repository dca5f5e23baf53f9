#!/bin/bash
# Creates the Tesoma ledger database and the warehouse's Iceberg catalog database next to Airflow's
# metadata database.
#
# Mounted into /docker-entrypoint-initdb.d/ of the postgres service: the official postgres image
# runs it ONCE, when the data volume is empty. On an existing volume run it by hand (idempotent):
#   docker-compose exec -T postgres bash /docker-entrypoint-initdb.d/10-create-tesoma-db.sh
#
# Role `tesoma` (password TESOMA_DB_PASSWORD from .env) owns two databases:
#   tesoma          the ledger: TESOMA_LEDGER_URL=postgresql+psycopg://tesoma:<password>@postgres:5432/tesoma
#   tesoma_catalog  the Iceberg catalog of the warehouse (pyiceberg's SQL catalog creates its tables
#                   iceberg_tables and iceberg_namespace_properties there on first use):
#                   TESOMA_ICEBERG_CATALOG_URL=postgresql+psycopg://tesoma:<password>@postgres:5432/tesoma_catalog
# `tesoma` can not connect to Airflow's database, and `airflow` (the superuser) is not used by the
# pipeline. No `set -u`: the postgres entrypoint may source this file instead of executing it.
set -e

if [ -z "${TESOMA_DB_PASSWORD:-}" ]; then
    echo "FATAL: TESOMA_DB_PASSWORD is not set for the postgres service (see .env.example)" >&2
    exit 1
fi

psql -v ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-postgres}" \
    --dbname "${POSTGRES_DB:-postgres}" \
    --set=tesoma_password="$TESOMA_DB_PASSWORD" <<'EOSQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tesoma') AS create_role \gset
\if :create_role
CREATE ROLE tesoma LOGIN PASSWORD :'tesoma_password';
\else
ALTER ROLE tesoma LOGIN PASSWORD :'tesoma_password';
\endif
SELECT NOT EXISTS (SELECT FROM pg_database WHERE datname = 'tesoma') AS create_db \gset
\if :create_db
CREATE DATABASE tesoma OWNER tesoma ENCODING 'UTF8' TEMPLATE template0;
\endif
REVOKE ALL ON DATABASE tesoma FROM PUBLIC;
GRANT ALL ON DATABASE tesoma TO tesoma;
SELECT NOT EXISTS (SELECT FROM pg_database WHERE datname = 'tesoma_catalog') AS create_catalog_db \gset
\if :create_catalog_db
CREATE DATABASE tesoma_catalog OWNER tesoma ENCODING 'UTF8' TEMPLATE template0;
\endif
REVOKE ALL ON DATABASE tesoma_catalog FROM PUBLIC;
GRANT ALL ON DATABASE tesoma_catalog TO tesoma;
REVOKE CONNECT ON DATABASE :"DBNAME" FROM PUBLIC;
EOSQL

echo "tesoma databases ready (role tesoma; ledger database tesoma, Iceberg catalog database tesoma_catalog)"
