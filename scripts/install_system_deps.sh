#!/usr/bin/env bash
# Installs the Debian packages the project needs, when they are missing and we are allowed to:
# as root with apt-get, else with `sudo -n` when that works without a password, else it prints
# what to install and carries on (the parts that need a missing package say so when they run).
#
#   OCR_SKIP_SYSTEM_DEPS=1  skip this script entirely
#
# Redis and PostgreSQL are installed only when no server answers on their usual local ports:
# a machine that already runs them (or points the project at other servers) needs no packages.
set -uo pipefail

if [[ "${OCR_SKIP_SYSTEM_DEPS:-0}" == "1" ]]; then
    echo "install_system_deps: skipped (OCR_SKIP_SYSTEM_DEPS=1)"
    exit 0
fi

# Rasterising PDFs and reading their text layers (poppler), checking searchable PDFs (qpdf --check in
# the tests and bench/pdf_output.py), fonts for the Chinese test pages, the browser the web tests drive,
# and the fonts and Debian documents the training data is synthesised from (training/README.md).
ALWAYS=(poppler-utils qpdf fonts-wqy-microhei fonts-noto-cjk chromium chromium-driver
    fonts-wqy-zenhei fonts-arphic-ukai fonts-arphic-uming fonts-dejavu-core fonts-liberation fonts-freefont-ttf
    manpages-zh maint-guide-zh-cn debian-faq-zh-cn)

tcp_open() { # host port -> 0 when something listens there
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

redis_answers() {
    if command -v redis-cli >/dev/null 2>&1; then
        [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == "PONG" ]]
    else
        tcp_open 127.0.0.1 6379
    fi
}

postgres_answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h 127.0.0.1 -p 5432
    else
        tcp_open 127.0.0.1 5432
    fi
}

have_package() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# The benchmark (`make bench`, bench/): Tesseract 5 as a reference engine, and the Debian Reference
# PDFs, which are reserved for evaluation (never train on them). OCR_SKIP_BENCH_DEPS=1 leaves them out.
bench_packages() {
    [[ "${OCR_SKIP_BENCH_DEPS:-0}" == "1" ]] && return
    wanted+=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim tesseract-ocr-osd debian-reference-en debian-reference-zh-cn)
}

wanted=("${ALWAYS[@]}")
redis_answers || wanted+=(redis-server)
postgres_answers || wanted+=(postgresql)
bench_packages

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install_system_deps: not a Debian/Ubuntu system; make sure these (or their equivalents) are installed:"
    echo "    ${wanted[*]}"
    exit 0
fi

missing=()
for pkg in "${wanted[@]}"; do
    have_package "$pkg" || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ "$(id -u)" == "0" ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "install_system_deps: missing Debian packages (not root, no password-less sudo):"
    echo "    sudo apt-get install ${missing[*]}"
    echo "install_system_deps: continuing without them; the parts that need them will fail or be skipped."
    exit 0
fi

echo "install_system_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get update -qq; then
    echo "install_system_deps: apt-get update failed; continuing with the package lists we have"
fi
if ! "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    echo "install_system_deps: apt-get install failed for: ${missing[*]}"
    echo "install_system_deps: continuing; the parts that need them will fail or be skipped."
fi
exit 0
