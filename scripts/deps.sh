#!/usr/bin/env bash
# Installs the Debian packages behorig's tests and `make dev` need. As root it installs what
# is missing (no daemon is started: we run our own servers); otherwise it names the command.
set -euo pipefail

# package:file that shows it is installed
needs=(
  "postgresql:/usr/lib/postgresql/15/bin/postgres"
  "slapd:/usr/sbin/slapd"
  "ldap-utils:/usr/bin/ldapsearch"
  "chromium:/usr/bin/chromium"
  "npm:/usr/bin/npm"
  "freeradius-utils:/usr/bin/radclient"
  "oathtool:/usr/bin/oathtool"
  "freeradius:/usr/sbin/freeradius"
  "freeradius-ldap:/usr/lib/freeradius/rlm_ldap.so"
)

# axe-core, which the browser tests run on every page, from npm into .cache (not committed).
axe_version=4.14.1
install_axe() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/.cache/axe"
  [ -e "$dir/node_modules/axe-core/axe.min.js" ] && grep -q "\"version\": \"$axe_version\"" "$dir/node_modules/axe-core/package.json" && return 0
  echo "installing axe-core $axe_version into .cache/axe" >&2
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" "axe-core@$axe_version" >/dev/null
}

missing=()
for n in "${needs[@]}"; do
  [ -e "${n#*:}" ] || missing+=("${n%%:*}")
done
if [ ${#missing[@]} -eq 0 ]; then
  install_axe
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "behorig needs these Debian packages: ${missing[*]}" >&2
  echo "install them with:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep the packages' own daemons off: the tests and `behorig dev` start private instances.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_axe
