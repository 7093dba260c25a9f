#!/bin/sh
# Everything the tests need, on Debian: the third-party peers and the
# browser (apt-get, as root or through sudo), the Pythons the examples are
# tested on (pyenv's), and the Python packages (in .venv). What is there
# already is left alone; what cannot be installed is named, in one line,
# with the command that installs it. Run from the repository's root:
#
#     sh tests/setup.sh
set -eu

# socat, ncat: third-party UDP, TCP and TLS peers. openssl: s_server and
# s_client, TLS peers. chromium and fonts-liberation: the browser tests.
# ip, nft, ss (iproute2, nftables): network namespaces that lose packets
# on purpose, and the kernel's view of sockets. dnsmasq, dig
# (dnsmasq-base, bind9-dnsutils): a DNS server in a namespace, and a
# resolver nobody here wrote. curl, wrk, ab (apache2-utils): HTTP clients
# and load generators.
PACKAGES="socat ncat openssl chromium fonts-liberation iproute2 nftables"
PACKAGES="$PACKAGES dnsmasq-base bind9-dnsutils curl wrk apache2-utils"
missing_packages() {
    missing=""
    for program in socat ncat openssl chromium ip nft ss dnsmasq dig curl \
        wrk ab; do
        command -v "$program" >/dev/null 2>&1 || missing="$missing $program"
    done
    [ -d /usr/share/fonts/truetype/liberation ] ||
        missing="$missing fonts-liberation"
    echo "$missing"
}

missing=$(missing_packages)
if [ -n "$missing" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        sudo=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo"
    else
        echo "setup: missing:$missing; install them with:" \
            "sudo apt-get install $PACKAGES" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
    missing=$(missing_packages)
    if [ -n "$missing" ]; then
        echo "setup: still missing after apt-get install:$missing" >&2
        exit 1
    fi
fi

# The Pythons every example test runs on (tests/conftest.py finds them the
# same way).
versions=$(echo "${COOKBOOK_PYTHONS:-3.9,3.10,3.11,3.12,3.13}" | tr , ' ')
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
absent=""
for version in $versions; do
    found=""
    for python in "$pyenv_root"/versions/"$version".*/bin/python"$version"; do
        [ -x "$python" ] && found=yes
    done
    [ -n "$found" ] || absent="$absent $version"
done
if [ -n "$absent" ]; then
    echo "setup: no Python$absent under $pyenv_root/versions; install" \
        "each with pyenv install VERSION, or test on fewer, e.g." \
        "COOKBOOK_PYTHONS=3.11" >&2
    exit 1
fi

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: the site and the tests need Python 3.11 or newer as" \
        "python3, not $(python3 -V 2>&1)" >&2
    exit 1
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -r requirements.txt
