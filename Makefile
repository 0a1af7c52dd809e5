# Two-command start: `make demo` (the tool and the example pipeline, no root, no system
# packages) and `make test` (everything the test suite, the docs and the wheel test need).
VENV   := .venv
PY     := $(VENV)/bin/python
# `make demo`: the tool, the example pipeline's needs and the dashboard
DEMO_STAMP := $(VENV)/.demo-installed
# `make install`/`make test`: every extra, the test tools, and the system packages the tests use
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# apt-get for the test machine's system packages: as root, or through sudo
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo lint docs test test-fast bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(PY)
	# the local CPU build first: any other torch spec pulls a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[example,ui]"
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q torch==2.13.0
	# the export extras too: their tests read the results back with tensorboard and mlflow
	$(PY) -m pip install -q -e ".[dev,tensorboard,mlflow,ray]"
	# the shared-storage sweep tests start a throwaway PostgreSQL server (initdb/pg_ctl)
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q postgresql; }
	# the dashboard's browser tests drive Debian's chromium
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver; }
	touch $(STAMP)

install: $(STAMP)

# runs every stage as a DVC experiment in a scratch copy: the work tree stays as committed
demo: $(DEMO_STAMP)
	PYTHONPATH=src $(PY) -m pipeline.demo

# lint and types first: a style or type error fails `make test` before the slow suite runs
lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks docs/hooks
	$(PY) -m ruff format --check src tests benchmarks docs/hooks
	$(PY) -m mypy

# the docs site (mkdocs.yml, docs/); --strict: a broken link or nav entry fails
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -q --site-dir build/site

# the suite includes the slow end-to-end tests and tests/test_wheel.py (sdist + wheel into a
# fresh venv without torch, run against a scikit-learn pipeline)
test: lint docs
	$(PY) -m pytest -n 2 --dist loadfile -q -p no:cacheprovider

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow"

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build/site
