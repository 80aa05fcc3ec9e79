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
)

missing=()
for n in "${needs[@]}"; do
  [ -e "${n#*:}" ] || missing+=("${n%%:*}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
