# tryton-ops: `make up` runs the demo, `make test` runs the whole suite on every trytond series.
SERIES ?= 8.0 8.2
UP_SERIES ?= 8.2
PYTHON ?= python3
# two test processes: most tests wait on real servers starting, not on the CPU.
# Tests marked one_series (their outcome does not depend on trytond) run on the last series only.
PYTEST_ARGS ?= -n 2

.PHONY: up down test lint clean
# the venv stamp files are real results, not intermediates make may delete
.PRECIOUS: .venv/%/.installed

venv-%: .venv/%/.installed
	@:

# tryton-ops requires tryton-ops-client, the distribution of client/: installed from the tree
.venv/%/.installed: pyproject.toml client/pyproject.toml
	$(PYTHON) -m venv .venv/$*
	.venv/$*/bin/pip install -q --upgrade pip
	.venv/$*/bin/pip install -q -e ./client -e ".[test]" "trytond~=$*.0" "trytond_party~=$*.0" \
		"trytond_company~=$*.0" "trytond_currency~=$*.0" "trytond_product~=$*.0" \
		"trytond_country~=$*.0" "trytond_stock~=$*.0" "trytond_account~=$*.0" \
		"trytond_account_product~=$*.0" "trytond_account_invoice~=$*.0" \
		"trytond_account_invoice_stock~=$*.0" "trytond_sale~=$*.0" "trytond_purchase~=$*.0" \
		"proteus~=$*.0"
	touch $@

# The embedded default: SQLite, the party module and 300 demo parties.
up: venv-$(UP_SERIES)
	TRYTON_OPS_DATABASE__DEMO_RECORDS=$${TRYTON_OPS_DATABASE__DEMO_RECORDS:-300} \
		.venv/$(UP_SERIES)/bin/tryton-ops up

down:
	.venv/$(UP_SERIES)/bin/tryton-ops down

test: $(addprefix venv-,$(SERIES))
	sh scripts/install-system-deps.sh
	.venv/$(lastword $(SERIES))/bin/ruff check
	.venv/$(lastword $(SERIES))/bin/ruff format --check
	.venv/$(lastword $(SERIES))/bin/lint-imports
	@set -e; for s in $(SERIES); do \
		echo "=== trytond $$s ==="; \
		if [ "$$s" = "$(lastword $(SERIES))" ]; then only=""; else only="not one_series"; fi; \
		.venv/$$s/bin/pytest $(PYTEST_ARGS) $${only:+-m "$$only"}; \
	done

lint: venv-$(UP_SERIES)
	.venv/$(UP_SERIES)/bin/ruff check
	.venv/$(UP_SERIES)/bin/ruff format --check
	.venv/$(UP_SERIES)/bin/lint-imports

clean:
	rm -rf .venv
