# Everything a fresh clone needs: `make run` to serve, `make test` to check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install browser run test bench lint format migrate superuser freeze clean

# requirements.txt pins what we use; constraints.txt pins everything they pull in, so a fresh
# clone installs exactly what was tested (refresh it with `make freeze` after a change).
$(BIN)/.installed: requirements.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

install: $(BIN)/.installed

# A development server with DEBUG on, the demo plans and SMS codes printed to the console.
run: export DEBUG ?= true
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo_plans
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# The browser test drives Debian's Chromium; install it when missing and we can (root + apt).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser test"; \
	    apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || \
	    echo "Could not install chromium: the browser test will be skipped"; \
	  else \
	    echo "No chromium and no way to install it: the browser test will be skipped"; \
	  fi; }

test: install browser
	$(BIN)/python -m pytest

# Benchmarks (not part of `make test`): PostgreSQL at 127.0.0.1:5432, Redis at 127.0.0.1:6379
# (the Celery figures) and Debian's wrk.
bench: install
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null; } || \
	  { echo "wrk is needed: apt-get install wrk"; exit 1; }
	$(BIN)/python -m bench.queries
	$(BIN)/python -m bench.http
	$(BIN)/python -m bench.billing
	$(BIN)/python -m bench.scheduler
	$(BIN)/python -m bench.events
	$(BIN)/python -m bench.dashboard
	$(BIN)/python -m bench.celery

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: export DEBUG ?= true
migrate: install
	$(BIN)/python manage.py migrate --noinput

superuser: export DEBUG ?= true
superuser: install
	$(BIN)/python manage.py createsuperuser

freeze: install
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
