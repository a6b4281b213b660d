#!/usr/bin/env bash
# Installs the system services Relais' integration tests need and a fresh machine lacks:
# ejabberd (Debian package), without letting the package start its own daemon on 5222.
# Idempotent; needs root (or sudo) and Debian's apt.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if command -v ejabberdctl >/dev/null 2>&1 && [ -x /usr/bin/erl ]; then
  echo "ejabberd: present"
  exit 0
fi
command -v apt-get >/dev/null || { echo "ejabberd missing and no apt-get: install ejabberd 23.01+ by hand" >&2; exit 1; }
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d; guard=1
fi
cleanup() { [ -n "$guard" ] && $SUDO rm -f /usr/sbin/policy-rc.d; return 0; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q --no-install-recommends ejabberd; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends ejabberd
fi
echo "ejabberd: installed"
