#!/usr/bin/env bash
# Installs what Relais' tests need and a fresh machine lacks: ejabberd (Debian package), without
# letting the package start its own daemon on 5222, and chromium for the console's browser test.
# Idempotent; needs root (or sudo) and Debian's apt.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
if command -v ejabberdctl >/dev/null 2>&1 && [ -x /usr/bin/erl ]; then echo "ejabberd: present"; else need+=(ejabberd); fi
if [ -x /usr/bin/chromium ]; then echo "chromium: present"; else need+=(chromium); fi
[ ${#need[@]} -gt 0 ] || exit 0
command -v apt-get >/dev/null || { echo "${need[*]} missing and no apt-get: install them by hand" >&2; exit 1; }
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d; guard=1
fi
cleanup() { [ -n "$guard" ] && $SUDO rm -f /usr/sbin/policy-rc.d; return 0; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
echo "installed: ${need[*]}"
