#!/usr/bin/env bash
# Install Debian packages unless every named command is already there (as root, or with sudo).
# usage: apt-ensure.sh "command ..." "package ..."
set -euo pipefail
commands=$1 packages=$2
missing=0
for command in $commands; do command -v "$command" >/dev/null || missing=1; done
[ "$missing" = 0 ] && exit 0
echo "==> installing $packages (Debian packages)"
sudo=$([ "$(id -u)" = 0 ] || echo sudo)
install="$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends"
# shellcheck disable=SC2086  # word splitting of the package list is wanted
$install $packages >/dev/null 2>&1 || { $sudo apt-get update -q >/dev/null && $install $packages >/dev/null; }
