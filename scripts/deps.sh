#!/usr/bin/env bash
# Installs the Debian packages hearth's build and every test needs (make test runs nothing this
# does not install; the npm packages of tests/integration come from its package-lock.json).
# Idempotent: installs only what is missing; uses sudo when not root.
set -euo pipefail
pkgs=(build-essential clang pkg-config libcriterion-dev libpcre2-dev libjansson-dev libssl-dev
      libmicrohttpd-dev libsqlite3-dev)
# make test-cross: the NEON kernels cross-built for aarch64, run under qemu
pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
# make test-integration: the network-isolation proofs (scripts/run-integration-tests.sh runs every
# suite in a loopback-only namespace: unshare from util-linux, ip from iproute2; store.test.mjs
# traces hearth with strace and talks to the namespaced server with curl). Missing, they fail the
# run unless HEARTH_NETNS=0.
pkgs+=(util-linux iproute2 strace curl)
# server_websafe.test.mjs: a real browser (headless chromium, driven by npm playwright-core) attacks the server
pkgs+=(chromium)
# hearth agent: run_command runs under bubblewrap (agent.test.mjs, test_agent)
pkgs+=(bubblewrap)
# hearth chat: chat.test.mjs drives it in a real terminal (tmux send-keys / capture-pane)
pkgs+=(tmux)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all present"
else
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "deps: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The integration runner uses node:test's --test-concurrency (node 20.10 and later); the nodejs
# of Debian 12's own archive is 18: say so here rather than fail later.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 10) ? 0 : 1)'; then
    echo "deps: node $(node --version) is too old: the integration tests need node >= 20.10 (e.g. from NodeSource)" >&2
    exit 1
fi
