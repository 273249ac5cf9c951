# mmdbp: the two commands of the README, and the setup they share.
#   make demo   set everything up (tools/setup.sh) and run the main demo (tools/run_demo.sh)
#   make test   set up if needed, then run the test suite
# the environment tools/setup.sh creates (MMDBP_VENV moves it; PYTHON only picks the interpreter
# setup builds it from, so the demo is never run with a bare system python)
PY := $(or $(MMDBP_VENV),.venv)/bin/python

.PHONY: setup demo test

setup:
	@bash tools/setup.sh

demo: setup
	@PYTHON="$(PY)" bash tools/run_demo.sh

# pytest exits with 5 when it collects no test: that is a broken suite here, not a pass.
test: setup
	@$(PY) -m pytest tests -q -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "[test] pytest collected no tests: the suite is missing or broken" >&2; fi; \
	exit $$rc
