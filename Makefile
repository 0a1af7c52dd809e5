# Two-command setup: `make demo` and `make test` (see README.md).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install demo lint test test-fast bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the local CPU build first: any other torch spec pulls a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	# the export extras too: their tests read the results back with tensorboard and mlflow
	$(PY) -m pip install -q -e ".[dev,tensorboard,mlflow,ray]"
	# the shared-storage sweep tests start a throwaway PostgreSQL server (initdb/pg_ctl)
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ apt-get update -q && apt-get install -y -q postgresql; }
	# the dashboard's browser tests drive Debian's chromium (root + apt on CI machines)
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -q && apt-get install -y -q chromium chromium-driver; }
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PYTHONPATH=src $(PY) -m pipeline.demo

# lint and types first: a style or type error fails `make test` before the slow suite runs
lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks
	$(PY) -m mypy

test: lint
	$(PY) -m pytest -n 2 --dist loadfile -q -p no:cacheprovider

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow"

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
