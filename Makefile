# Every target works on a fresh machine with Python >= 3.11 and make: the first one creates .venv.
# `make run` installs what running needs; the targets that test or check add the dev tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
LOCALE := src/jivocrm/locale
CATALOGUES := $(wildcard $(LOCALE)/*/LC_MESSAGES/*.po)

.PHONY: run test check lint typecheck fmt bench soak docs example catalogues compile-catalogues clean

# Installing compiles the catalogues (hatch_build.py), so a changed .po installs again.
$(RUNTIME): pyproject.toml $(CATALOGUES)
	@echo "Installing jivocrm and what it needs to run into $(VENV) (once; about half a minute)…"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	@touch $(RUNTIME)

$(DEV): $(RUNTIME)
	@echo "Installing the test and check tools into $(VENV) (once)…"
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(DEV)

run: $(RUNTIME)
	$(BIN)/python -m jivocrm.cli.first_run

test: $(DEV) compile-catalogues
	$(BIN)/python -m pytest -q -m "not slow"
	$(BIN)/jivocrm test --project bundles

lint: $(DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(DEV)
	$(BIN)/mypy

check: lint typecheck test

fmt: $(DEV)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

docs: $(RUNTIME)
	$(BIN)/python -m jivocrm.reference .

# The example project under bundles/ is `jivocrm init` for every CRM jivocrm knows.
example: $(RUNTIME)
	$(BIN)/jivocrm init bundles $$($(BIN)/python -c "from jivocrm.scaffold import crm_types; print(' '.join('--crm ' + c for c in crm_types()))") --emulate --force

bench: $(DEV)
	$(BIN)/python bench/run_all.py

soak: $(DEV)
	$(BIN)/python -m pytest -q -m slow tests/reliability

# After adding or changing a message: the template from the code, then each language's .po
# (translate the new entries; tests/unit/test_translations.py fails until every one is).
catalogues: $(DEV)
	$(BIN)/pybabel --quiet extract -F babel.cfg -k N_ -k Text -k Problem:2 -k ngettext:1,2 --no-location \
		--sort-output --project jivocrm -o $(LOCALE)/jivocrm.pot src/jivocrm
	$(BIN)/pybabel --quiet update -i $(LOCALE)/jivocrm.pot -d $(LOCALE) -D jivocrm --no-fuzzy-matching
	$(MAKE) compile-catalogues

compile-catalogues: $(DEV)
	$(BIN)/pybabel --quiet compile -d $(LOCALE) -D jivocrm

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .jivocrm
