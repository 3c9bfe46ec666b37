#!/usr/bin/env bash
# Set up a development copy of multiarc on a fresh Debian/Ubuntu machine:
# a virtualenv in .venv with the project installed (editable) and, with --test,
# the system packages and Python tools the test suite needs.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

if (( want_test )); then
    # debootstrap + sshd: the integration tests build a Debian root filesystem and reach it
    # over SSH on loopback; dpkg-dev builds the fixture .deb packages; xz/zstd compress;
    # pciutils, dmidecode and kmod are what multiarc-collect-sysinfo runs on a real machine.
    pkgs=(debootstrap dpkg-dev openssh-server openssh-client xz-utils zstd python3-venv
          pciutils dmidecode kmod)
    missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if (( ${#missing[@]} )); then
        if [[ $EUID -ne 0 ]]; then
            echo "setup: missing system packages: ${missing[*]} (run as root or install them)" >&2
            exit 3
        fi
        echo "setup: installing system packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
fi

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if (( want_test )); then
    .venv/bin/python -m pip install -q -e '.[test]'
else
    .venv/bin/python -m pip install -q -e .
fi
echo "setup: ready (.venv)"
