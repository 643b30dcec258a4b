#!/usr/bin/env bash
# Build BookSim2 for tessera's interconnect reference data (issue 13).
#
#   bash tools/booksim/setup.sh            # -> tools/booksim/build/booksim2/src/booksim
#   python3 tools/booksim/run.py           # -> tests/data/booksim/*.csv
#
# Not run by CI: CI only reads the committed CSVs in tests/data/booksim/.
# Needs root (apt-get) and network access to Debian's archive and GitHub.
# Pinned to what produced the committed data (Debian 12 "bookworm", amd64):
#   flex 2.6.4-8.2, bison 2:3.8.2+dfsg-1+b1, g++ 4:12.2.0-3 (g++-12 12.2.0-14+deb12u1)
#   BookSim2 https://github.com/booksim/booksim2 commit 28f43299f1706a3160ffac721ca461d74eb6e618
# If the source is already on disk (e.g. a bare mirror), pass it instead of
# downloading: BOOKSIM_GIT_DIR=/path/to/bare.git bash tools/booksim/setup.sh
set -euo pipefail

BOOKSIM_COMMIT=28f43299f1706a3160ffac721ca461d74eb6e618
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="$HERE/build"
SRC="$BUILD/booksim2"

PKGS=("flex=2.6.4-8.2" "bison=2:3.8.2+dfsg-1+b1" "g++=4:12.2.0-3" "make")
if ! dpkg-query -W flex bison g++ make >/dev/null 2>&1 || [ "${FORCE_APT:-0}" = 1 ]; then
  apt-get update
  # exact versions first; fall back to the archive's current ones (and say so)
  if ! apt-get install -y --no-install-recommends "${PKGS[@]}"; then
    echo "setup.sh: pinned versions unavailable, installing current flex/bison/g++" >&2
    apt-get install -y --no-install-recommends flex bison g++ make
  fi
fi
dpkg-query -W flex bison g++ | sed 's/^/setup.sh: using /'

if [ ! -x "$SRC/src/booksim" ]; then
  rm -rf "$SRC"
  mkdir -p "$SRC"
  if [ -n "${BOOKSIM_GIT_DIR:-}" ]; then
    git --git-dir="$BOOKSIM_GIT_DIR" archive "$BOOKSIM_COMMIT" | tar -x -C "$SRC"
  else
    curl -fsSL "https://github.com/booksim/booksim2/archive/$BOOKSIM_COMMIT.tar.gz" \
      | tar -xz -C "$SRC" --strip-components=1
  fi
  # -j1: the project's machines have 2 shared cores; a build takes ~2 minutes
  make -C "$SRC/src" -j1
fi
echo "setup.sh: BookSim2 $BOOKSIM_COMMIT at $SRC/src/booksim"
