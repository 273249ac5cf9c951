#!/usr/bin/env bash
# Download, on this (networked) machine, everything the GPU benchmarks need that the lent GPU
# machine lacks, into .whl/ of the repository (git-ignored through .git/info/exclude, never
# committed): Python 3.12 wheels of the OpenMMLab stack and its missing pure-Python dependencies,
# mmcv's sdist (full mmcv is built there, CPU ops, by tools/device/run_gpu_benchmarks.sh), and
# the setuptools that mmcv 2.1.0's setup.py builds with (in .whl/build/, used for that build only).
#
# The GPU machine (see /work/.library/device/KINDS.md) has Python 3.12, torch 2.11 (CUDA 13),
# numpy 2, matplotlib, scipy, opencv-python-headless, rich, pyyaml, einops, regex, click,
# markdown, zipp, packaging, pillow, ninja and a C++ toolchain, and no network. Everything here
# is pure Python (py3-none-any) except mmcv, which has no wheel for that torch and is built there.
#
#   bash tools/device/fetch_wheels.sh          # then: du -sh .whl  (well under the 64 MiB carry)
#
# The versions are those of requirements/pinned.txt and of the development venv.
set -euo pipefail
quiet() { "$@" 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
DEST="$ROOT/.whl"
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p "$DEST" "$DEST/build"

# Wheels installed on the GPU machine (pip install --no-deps --target /tmp/site .whl/*.whl).
WHEELS=(
  mmengine==0.10.7 mmpretrain==1.2.0 mmsegmentation==1.2.2
  addict==2.4.0 yapf==0.43.0 platformdirs==4.14.8 termcolor==3.3.0   # mmengine, mmcv
  mat4py==0.6.0 modelindex==0.0.2 model-index==0.1.11 ordered-set==4.1.0  # mmpretrain
  importlib-metadata==10.2.0 lazy-importer==0.1.0                       # mmpretrain
  prettytable==3.18.0 wcwidth==0.9.4 ftfy==6.3.1                        # mmseg (+ tokenizer)
)
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform any)
quiet "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp "${PLATFORMS[@]}" -d "$DEST" "${WHEELS[@]}"
# mmcv 2.1.0 builds with this setuptools (tools/setup.sh does the same); build-time only
quiet "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp "${PLATFORMS[@]}" -d "$DEST/build" setuptools==69.5.1
# full mmcv: the sdist (no wheel exists for torch 2.11 / Python 3.12); built on the GPU machine
if ! ls "$DEST"/mmcv-2.1.0-cp312-*.whl >/dev/null 2>&1; then
  quiet "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    --no-build-isolation -d "$DEST" mmcv==2.1.0
fi
# exactly one version of each
dups="$(ls "$DEST"/*.whl | xargs -n1 basename | cut -d- -f1 | tr 'A-Z-' 'a-z_' | sort | uniq -d)"
[ -z "$dups" ] || { echo "[fetch_wheels] more than one wheel of: $dups (remove the old ones)"; exit 1; }
ls -l "$DEST" "$DEST/build" | awk 'NF > 5 {printf "%10d  %s\n", $5, $NF}'
echo "[fetch_wheels] total: $(du -sh "$DEST" | cut -f1) in $DEST (carry limit 64 MiB with the tree)"
