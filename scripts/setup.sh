#!/usr/bin/env bash
# Installs what autosp needs to build and test, once. A second run installs
# nothing: each step checks first. Used by `make setup` (and so by `make
# build`, `make test`, `make demo`) and by CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROOT}/.venv"
TORCH_VERSION="${AUTOSP_TORCH_VERSION:-2.13.0}"

# Debian packages: the library, the package that provides it.
APT_PACKAGES=(
  cmake ninja-build g++ ccache pkg-config
  libgtest-dev libgmock-dev       # GoogleTest / GoogleMock
  nlohmann-json3-dev              # JSON (configs, HF config.json, safetensors headers)
  libcli11-dev                    # CLI11 (the autosp command line)
  libfmt-dev                      # fmt (formatting, tables)
  libxxhash-dev                   # xxHash (checkpoint checksums)
  libpcre2-dev                    # PCRE2 (tokenizer pre-tokenizer regexes: \p{L} classes, JIT)
  libutf8proc-dev                 # utf8proc (the NFC normalizer of tokenizer.json files)
  libsentencepiece-dev            # SentencePiece (tokenizer.model files)
  libboost-dev                    # Boost.CRC, header-only (CRC32C of TensorBoard event records)
  llvm-14-tools                   # FileCheck for golden IR tests
  clang-16 libclang-rt-16-dev     # the sanitizer build: ASan, UBSan and libFuzzer (make test-sanitize)
  libgloo-dev                     # Gloo declarations that ProcessGroupGloo.hpp includes (the wheel lacks them)
  python3-venv
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("${pkg}")
  fi
done
if ((${#missing[@]})); then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  ${SUDO} apt-get update -q
  DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ ! -x "${VENV}/bin/python" ]]; then
  echo "[setup] creating virtualenv ${VENV}"
  python3 -m venv "${VENV}"
fi
# transformers: only for tests/reference/hf_crosscheck.py and the tokenizer
# cross-check (tests/tokenizer), with sentencepiece; tensorboard: only for
# tests/train/tensorboard_events_test.py, which reads our event files back (the
# product never runs Python).
TRANSFORMERS_VERSION="4.57.6"
# sentencepiece 0.1.99: the release line of Debian bookworm's libsentencepiece
# (0.1.97), which autosp links; 0.2.x breaks some unigram Viterbi ties the
# other way, so the cross-check compares like with like.
SENTENCEPIECE_VERSION="0.1.99"
TENSORBOARD_VERSION="2.21.0"
if ! "${VENV}/bin/python" -c "
import sys
from importlib.metadata import version
import torch
sys.exit(0 if torch.__version__.split('+')[0] == '${TORCH_VERSION}'
         and version('transformers') == '${TRANSFORMERS_VERSION}'
         and version('sentencepiece') == '${SENTENCEPIECE_VERSION}'
         and version('tensorboard') == '${TENSORBOARD_VERSION}' else 1)" 2>/dev/null; then
  echo "[setup] installing torch==${TORCH_VERSION} (CPU build; carries LibTorch C++), transformers==${TRANSFORMERS_VERSION}, sentencepiece==${SENTENCEPIECE_VERSION} and tensorboard==${TENSORBOARD_VERSION} into ${VENV}"
  "${VENV}/bin/pip" install -q "torch==${TORCH_VERSION}" numpy "transformers==${TRANSFORMERS_VERSION}" \
    "sentencepiece==${SENTENCEPIECE_VERSION}" "tensorboard==${TENSORBOARD_VERSION}"
fi
