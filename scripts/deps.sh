#!/usr/bin/env bash
# Installs the Debian packages hearth's build and tests need. Idempotent: installs only what is
# missing; uses sudo when not root.
set -euo pipefail
pkgs=(build-essential clang pkg-config libcriterion-dev libpcre2-dev libjansson-dev libssl-dev
      libmicrohttpd-dev
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)  # make test-cross (NEON under qemu)
pkgs+=(bubblewrap)  # hearth agent: run_command runs under bwrap (agent.test.mjs, test_agent)
pkgs+=(chromium)  # server_websafe.test.mjs: a real browser (driven by playwright-core) attacks the server
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all present"
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
