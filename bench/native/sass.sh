#!/usr/bin/env bash
# SASS of one CUDA source for sm_90a, readable on a machine without a GPU or CUDA's binary tools:
# nvcc (13) builds a cubin, its ELF header is rewritten to the CUDA 11.8 ABI (the instruction encoding
# is the same), and Debian bookworm's nvdisasm 11.8 (non-free nvidia-cuda-toolkit, downloaded and
# unpacked once under /tmp/cudadeb, not installed; fetching it adds Debian's non-free component as
# /etc/apt/sources.list.d/tao-nonfree.sources) disassembles it.
# Usage: bench/native/sass.sh kernels/cuda/nf4.cu > /tmp/nf4.sass; bench/native/sass_loops.py /tmp/nf4.sass [kernel]
set -euo pipefail
src=$1
cub=/tmp/$(basename "$src" .cu).cubin
nvdisasm=/tmp/cudadeb/x/usr/bin/nvdisasm
if [ ! -x "$nvdisasm" ]; then
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    > /etc/apt/sources.list.d/tao-nonfree.sources
  apt-get update -qq >&2
  mkdir -p /tmp/cudadeb && (cd /tmp/cudadeb && apt-get download -qq nvidia-cuda-toolkit >&2 && dpkg -x nvidia-cuda-toolkit_*.deb x)
fi
cd "$(dirname "$0")/../.."
nvcc -cubin -O3 -DNDEBUG -arch=sm_90a --expt-relaxed-constexpr -std=c++17 -DTAO_HAVE_SM90A -DTAO_WITH_CUDA -Iinclude -Ikernels "$src" -o "$cub"
python3 - "$cub" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
b[7], b[8] = 0x33, 7                            # OS/ABI and ABI version of a CUDA 11.8 cubin
struct.pack_into("<I", b, 48, 0x005A055A)       # e_flags: sm_90, virtual sm_90, 64-bit addresses
open(sys.argv[1], "wb").write(b)
PY
"$nvdisasm" -c "$cub"
