# One task runner. On a fresh machine with only python3 + pip, `make demo` and `make test` bootstrap
# uv into .tools/ and the locked environment into .venv/ themselves.
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
# Installed packages get their bytecode at install time. Where PYTHONDONTWRITEBYTECODE is set (these
# machines set it), every process otherwise compiles every module it imports from source, again and again:
# importing pyiceberg's catalog took 5.5 s instead of 1.1 s, and every Airflow task paid such costs.
export UV_COMPILE_BYTECODE := 1

.PHONY: setup demo test test-deps lint airflow airflow-stop clean

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

setup: $(UV)
	$(UV) sync --frozen --quiet

## demo: generate 30 days of synthetic deliveries, run the city_visits DAG for each day, query the warehouse
demo: setup
	$(UV) run --frozen tesoma demo

## test: lint, then the whole test suite in two workers (tests on the shared databases and Airflow stacks
## run one after another in one of them: tests/conftest.py)
test: setup lint test-deps
	$(UV) run --frozen pytest -n 2 --dist loadfile

# System programs some tests drive, as `command:Debian packages`: docker-compose (v1) validates
# docker-compose.yml without a Docker engine; chromium renders the Airflow UI for the screenshot test (the
# font so its text is legible; --no-install-recommends keeps out docker.io and desktop services).
TEST_PROGRAMS := docker-compose:docker-compose chromium:chromium,fonts-liberation

## test-deps: install the programs above when missing, with apt-get as root or with password-less sudo.
## When that is impossible their tests skip with a message saying what to install (and fail under CI=true).
test-deps:
	@missing=""; \
	for entry in $(TEST_PROGRAMS); do \
	  command -v "$${entry%%:*}" >/dev/null 2>&1 || missing="$$missing $$(echo "$${entry#*:}" | tr , ' ')"; \
	done; \
	[ -n "$$missing" ] || exit 0; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else sudo=none; fi; \
	if [ "$$sudo" = none ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "test-deps: cannot install$$missing here (needs apt-get as root); the tests that use them will skip (fail under CI=true)" >&2; \
	  exit 0; \
	fi; \
	echo "test-deps: installing$$missing" >&2; \
	{ $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing; } >/dev/null 2>&1 \
	  || echo "test-deps: apt-get could not install$$missing; the tests that use them will skip (fail under CI=true)" >&2

## airflow: the Airflow UI on http://127.0.0.1:8080 (standalone, SQLite) with the demo data loaded
airflow: setup
	$(UV) run --frozen tesoma airflow

airflow-stop: setup
	$(UV) run --frozen tesoma airflow --stop

lint: setup
	$(UV) run --frozen ruff check .

clean:
	rm -rf data .venv $(TOOLS) .pytest_cache .ruff_cache
