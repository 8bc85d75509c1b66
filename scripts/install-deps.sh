#!/bin/sh
# Installs the Debian packages postern needs to build, test and benchmark.
# Idempotent: apt-get runs only when a package is actually missing.
set -eu

PACKAGES="
build-essential
clang
libclang-rt-14-dev
libssl-dev
libcrypt-dev
libcmocka-dev
pkg-config
python3
python3-pytest
openssl
haproxy
nginx
libnginx-mod-stream
swaks
isync
curl
man-db
"

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing="$missing $pkg"
done

[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Debian starts freshly installed daemons; postern's tests run their own private instances.
for svc in haproxy nginx; do
    case "$missing" in *" $svc"*) $SUDO service "$svc" stop >/dev/null 2>&1 || true ;; esac
done
