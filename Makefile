# Everything a fresh clone needs: `make run` to serve, `make test` to check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format migrate superuser clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

install: $(BIN)/.installed

# A development server with DEBUG on, the demo plans and SMS codes printed to the console.
run: export DEBUG ?= true
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo_plans
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	$(BIN)/python -m pytest

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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
