#!/usr/bin/env bash
# Installs what Mukaika needs on a Debian machine with Node 20: the Debian packages the product relies on
# (isolation, converters, fonts, OCR, PDF tools, Redis) and the npm dependencies.
#   bash scripts/setup.sh          for running the gateway
#   bash scripts/setup.sh --test   also makes sure Redis and PostgreSQL (database "test") run for the test suite
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  redis-server bubblewrap
  libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui libreoffice-draw-nogui python3-uno
  fonts-noto-cjk fonts-ipaexfont
  mupdf-tools qpdf poppler-utils ghostscript tesseract-ocr tesseract-ocr-jpn
  zip unzip python3 make g++
)
[ "${1:-}" = "--test" ] && PACKAGES+=(postgresql python3-fonttools)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("Node >= 20.19 is needed, found "+process.versions.node); process.exit(1) }'

# npm ci only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

if [ "${1:-}" = "--test" ]; then
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "setup: starting redis-server on 127.0.0.1:6379"
    mkdir -p /tmp/mukaika-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp/mukaika-redis
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    echo "setup: starting PostgreSQL"
    version=$(ls /etc/postgresql | sort -V | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  for _ in $(seq 1 50); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
  # The tests connect as postgres to database "test" over TCP without a password (trust), as on CI machines.
  if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
    version=$(ls /etc/postgresql | sort -V | tail -1)
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
      sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
      pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    fi
    su postgres -c "psql -tc \"select 1 from pg_database where datname='test'\" | grep -q 1 || createdb test"
  fi
fi
echo "setup: ready"
