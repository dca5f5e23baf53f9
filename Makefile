# One task runner. On a fresh machine with only python3 + pip, `make demo` and `make test` bootstrap
# uv into .tools/ and the locked environment into .venv/ themselves.
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never

.PHONY: setup demo test lint airflow airflow-stop clean

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

setup: $(UV)
	$(UV) sync --frozen --quiet

## demo: generate 30 days of synthetic deliveries, run the city_visits DAG for each day, query the warehouse
demo: setup
	$(UV) run --frozen tesoma demo

## test: lint, then the whole test suite
test: setup lint
	$(UV) run --frozen pytest

## airflow: the Airflow UI on http://127.0.0.1:8080 (standalone, SQLite) with the demo data loaded
airflow: setup
	$(UV) run --frozen tesoma airflow

airflow-stop: setup
	$(UV) run --frozen tesoma airflow --stop

lint: setup
	$(UV) run --frozen ruff check .

clean:
	rm -rf data .venv $(TOOLS) .pytest_cache .ruff_cache
