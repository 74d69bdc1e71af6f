#!/usr/bin/env bash
# `make test`: find or start a Redis and a PostgreSQL for the integration tests, check that
# Playwright can drive Debian's Chromium, then run pytest over tests/ (unit, integration,
# browser; see TEST_MARKERS for the trained-model tests). Servers started here are stopped at the end.
#
#   OCR_TEST_DATABASE_URL / OCR_TEST_BROKER_URL   use these servers instead (nothing is started)
#   OCR_TEST_CHROMIUM                             the Chromium binary for the browser tests
#   PYTEST_ARGS                                   extra pytest arguments, e.g. "-k client -x"
#   TEST_MARKERS                                  pytest -m expression (default below)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

VENV="${VENV:-.venv}"
PY="$REPO_ROOT/$VENV/bin/python"
mkdir -p "$VAR_DIR"

trap 'stop_started_services' EXIT
trap 'exit 130' INT TERM

ensure_test_services "$PY" || {
    say "make test needs a Redis and a PostgreSQL; see the messages above."
    exit 1
}
say "Test broker:   $OCR_TEST_BROKER_URL"
say "Test database: $OCR_TEST_DATABASE_URL"

export OCR_TEST_CHROMIUM="${OCR_TEST_CHROMIUM:-$(command -v chromium || command -v chromium-browser || echo /usr/bin/chromium)}"
# Playwright must never try to download a browser of its own: the tests pass executable_path.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if "$PY" scripts/check_browser.py "$OCR_TEST_CHROMIUM"; then
    say "Browser:       $OCR_TEST_CHROMIUM (Playwright can drive it)"
else
    say "Browser:       Playwright cannot drive $OCR_TEST_CHROMIUM; browser tests will fail (see above)"
fi

# Keep the test run's own files (uploads, SQLite, page images) out of the developer's var/.
export OCR_DATA_DIR="${OCR_TEST_DATA_DIR:-$VAR_DIR/test-data}"
mkdir -p "$OCR_DATA_DIR"

# Tests marked `trained` check what the shipped weights read (CER bounds on rendered pages), so a
# bad checkpoint cannot land; they run by default. `make test-trained` runs only them, and
# TEST_MARKERS="not trained" leaves them out while experimenting with untrained weights.
TEST_MARKERS="${TEST_MARKERS-}"

# --timeout: a hung test fails on its own instead of eating the CI budget.
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of words on purpose
"$PY" -m pytest tests/ ${TEST_MARKERS:+-m "$TEST_MARKERS"} --timeout=600 --durations=15 ${PYTEST_ARGS:-}
