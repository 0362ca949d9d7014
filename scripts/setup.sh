#!/usr/bin/env bash
# Installs the Debian packages whalebox builds and tests with. Idempotent: when every package is
# already installed it touches nothing (no apt-get update), so `make test` stays fast on a warm machine.
#   scripts/setup.sh              build + test dependencies
#   scripts/setup.sh --reference  also PyTorch for model/reference/
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libboost1.81-dev libboost-filesystem1.81-dev   # Asio, Beast, filesystem
  libpugixml-dev nlohmann-json3-dev libspdlog-dev libseccomp-dev
  libcli11-dev                                   # subcommand CLI with --help at every level
  libssl-dev                                     # HTTPS model backends
  libedit-dev                                    # line editing for `whalebox chat`
  libpcre2-dev                                   # Unicode regexes of HF tokenizer.json pre-tokenizers
  libgtest-dev libgmock-dev
  clang-14 libclang-rt-14-dev                    # libFuzzer targets in the test suite
  bubblewrap                                     # peer measured by `whalebox bench sandbox`
  procps psmisc iproute2 tmux                    # tests inspect processes and drive the shell in a pty
)
if [[ "${1:-}" == "--reference" ]]; then
  # Debian's torch links the generic BLAS alternative; OpenBLAS makes training ~7x faster.
  packages+=(python3 python3-torch python3-numpy libopenblas0-pthread python3-regex)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == ii* ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
