# The two commands: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Python 3.13 for the venv and therefore for Lambda (see docs/decisions.md).
# A python3.13 on PATH that runs, else one that pyenv has installed.
PYTHON313 := $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || \
	ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.13*/bin/python3.13 2>/dev/null | tail -1)

.PHONY: run test bench browser venv clean help layout package deploy

CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver

help:
	@echo "make run    start the service locally (API on http://127.0.0.1:8000/)"
	@echo "make test   run the whole test suite"
	@echo "make bench  run the benchmarks (1M records; takes a few minutes)"
	@echo "make layout TYPE=claim  (or COPYBOOK=file.cpy)  print the fixed-width layout the service understood"
	@echo "make package STAGE=dev|prod  build out/<stage>/sam.json and deployment.zip (docs/deploy.md)"
	@echo "make deploy STAGE=dev|prod ARTIFACT_BUCKET=<bucket> [PARAMETERS='AlarmTopicArn=...']  package and deploy the stack"
	@echo "make browser  install headless Chromium + ChromeDriver for the dashboard tests (root, Debian)"

# The venv also gets the operators' command `migrate` (cli/, docs/cli.md), never put in Lambda's package; it is
# built with the venv's own setuptools (chalice's dependency), so no build backend is downloaded.
$(STAMP): requirements.txt requirements-dev.txt cli/pyproject.toml
	@if [ -z "$(PYTHON313)" ]; then \
		echo "error: Python 3.13 not found. Install it (e.g. 'pyenv install 3.13.0' or your OS package)" >&2; \
		echo "       and make sure 'python3.13' is on PATH." >&2; exit 1; fi
	@if [ -x "$(PY)" ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then \
		echo "Replacing $(VENV): it is not Python 3.13"; rm -rf $(VENV); fi
	@[ -x "$(PY)" ] || $(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-build-isolation -e ./cli
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m local_stack

test: $(STAMP) browser
	$(PY) -m pytest

# The dashboard's end-to-end test drives a real headless Chromium (Debian's
# packages; a test tool's own browser download cannot work offline).
browser:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "error: the browser tests need Debian's chromium and chromium-driver packages;" >&2; \
		echo "       installing them needs root: run 'sudo make browser'." >&2; exit 1; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "error: apt-get not found: install Chromium and its ChromeDriver at $(CHROMIUM) and $(CHROMEDRIVER)." >&2; \
		exit 1; fi; \
	echo "Installing chromium and chromium-driver (Debian packages)"; \
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver

bench: $(STAMP)
	$(PY) -m bench

# The layout as the service reads it, to hold against the mainframe's compile listing.
layout: $(STAMP)
	@$(PY) -m tools.layout $(if $(COPYBOOK),--copybook $(COPYBOOK) $(if $(RECORD),--record $(RECORD)),$(TYPE))

# A deployable stage (docs/deploy.md): `chalice package` with infra/ merged, then tools/package.py's additions.
# Lambda's wheels are downloaded once into .cache/lambda-wheels/; later builds need no network.
STAGE ?= dev
OUT := out/$(STAGE)

package: $(STAMP)
	$(PY) -m tools.package $(STAGE) $(OUT)

# Needs the AWS CLI and credentials of a deployer (docs/deploy.md lists the permissions), and a bucket for
# the package: CloudFormation takes a Lambda package from S3, where Lambda's 50 MB direct-upload limit does not apply.
deploy: package
	@if [ -z "$(ARTIFACT_BUCKET)" ]; then echo "error: set ARTIFACT_BUCKET=<S3 bucket for deployment artifacts>" >&2; exit 1; fi
	aws cloudformation package --template-file $(OUT)/sam.json --s3-bucket $(ARTIFACT_BUCKET) \
		--s3-prefix records-migration-$(STAGE) --output-template-file $(OUT)/packaged.yaml
	aws cloudformation deploy --template-file $(OUT)/packaged.yaml --stack-name records-migration-$(STAGE) \
		--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
		--parameter-overrides Stage=$(STAGE) $(PARAMETERS)

clean:
	rm -rf $(VENV) data/output .pytest_cache out .cache
