#!/usr/bin/env bash
# One-command setup for mmdbp on a CPU machine (idempotent; a second run takes well under a minute).
#
#   bash tools/setup.sh            # venv + dependencies + mmdbp (editable)
#
# Creates .venv/ in the repository, installs the pinned stack from requirements/pinned.txt,
# builds full mmcv (with ops, CPU only) from its sdist once and caches the wheel in
# $MMDBP_WHEEL_CACHE (default ~/.cache/mmdbp/wheels) so later setups reuse it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${MMDBP_VENV:-$ROOT/.venv}"
PINS="$ROOT/requirements/pinned.txt"
CACHE="${MMDBP_WHEEL_CACHE:-$HOME/.cache/mmdbp/wheels}"
PY="${PYTHON:-python3}"
STEP=""

step() { STEP="$1"; printf '\n[setup] == %s\n' "$1"; }
fail() {
  printf '\n[setup] FAILED at step: %s\n' "$STEP" >&2
  printf '[setup] What to try: %s\n' "$1" >&2
  exit 1
}
pin() { grep -E "^$1==" "$PINS" | head -1; }
have() { "$VENV/bin/python" - "$@" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = spec.split('==')
    if version(name).split('+')[0] != want:
        sys.exit(1)
PYEOF
}

# mmdbp's optional C extension (crop-region JPEG decoding) is built by pip install wherever the C
# compiler finds libjpeg's headers; an install without it where it could be built is redone.
crop_decode_ok() {
  (cd / && "$VENV/bin/python" -c 'import mmdbp._jpeg_crop_decode') 2>/dev/null && return 0
  ! printf '#include <stdio.h>\n#include <jpeglib.h>\n' | "${CC:-cc}" -E -x c - >/dev/null 2>&1
}

SITE=""
[ -x "$VENV/bin/python" ] && SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

# Fast path of a repeated setup: one interpreter checks every pin, the imports (mmcv's ops
# included), the editable mmdbp of this checkout and its openmim entry, then stops.
if [ -n "$SITE" ] && [ -e "$SITE/mmdbp/.mim/tools/train.py" ] && [ -e "$SITE/mmdbp/.mim/model-index.yml" ] \
   && crop_decode_ok \
   && VERSIONS="$(cd / && "$VENV/bin/python" - "$ROOT" "$PINS" <<'PYEOF'
import os, re, sys
from importlib.metadata import version
root, pins = sys.argv[1], sys.argv[2]
for line in open(pins):
    m = re.match(r'^([A-Za-z0-9_.-]+)==([^\s#]+)', line)
    if m and version(m.group(1)).split('+')[0] != m.group(2):
        sys.exit(1)
import torch, torchvision, mmcv, mmcv.ops, mmengine, mmpretrain, mmseg, codecarbon, mmdbp  # noqa
if os.path.realpath(os.path.dirname(mmdbp.__file__)) != os.path.realpath(os.path.join(root, 'mmdbp')):
    sys.exit(1)
print(f'[setup] torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, mmseg {mmseg.__version__}, mmdbp {mmdbp.__version__}')
PYEOF
   )" 2>/dev/null; then
  echo "[setup] == 1-6/6 already set up: venv, pinned torch/mmcv/OpenMMLab stack, editable mmdbp, openmim entry"
  echo "$VERSIONS"
  echo "[setup] done: activate with 'source $VENV/bin/activate'"
  exit 0
fi

step "1/6 virtual environment ($VENV)"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" || fail "check that '$PY -m venv' works (python3-venv installed), or set PYTHON=/path/to/python3.11"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

step "2/6 build tools and torch ($(pin torch), $(pin torchvision))"
if have "$(pin torch)" "$(pin torchvision)" "$(pin setuptools)" "$(pin ninja)" "$(pin numpy)"; then
  echo "[setup] already installed"
else
  "${PIP[@]}" install -c "$PINS" torch torchvision setuptools wheel ninja numpy \
    || fail "torch must come from the local wheel store or the package registry; run '${PIP[*]} install $(pin torch)' to see pip's own error"
fi

step "3/6 full mmcv ($(pin mmcv), ops on, CPU) from source, cached in $CACHE"
MMCV_VER="$(pin mmcv | cut -d= -f3)"
if have "$(pin mmcv)" && "$VENV/bin/python" -c "import mmcv.ops" 2>/dev/null; then
  echo "[setup] already installed"
else
  mkdir -p "$CACHE"
  WHEEL="$(ls "$CACHE"/mmcv-"$MMCV_VER"-*.whl 2>/dev/null | head -1 || true)"
  if [ -z "$WHEEL" ]; then
    echo "[setup] no cached wheel: building mmcv $MMCV_VER (about 10 minutes on 2 cores)"
    BUILD="$(mktemp -d)"
    trap 'rm -rf "$BUILD"' EXIT
    "${PIP[@]}" download --no-deps --no-binary :all: --no-build-isolation -d "$BUILD" "mmcv==$MMCV_VER" \
      || fail "could not download the mmcv $MMCV_VER sdist from the package registry"
    tar -xzf "$BUILD"/mmcv-"$MMCV_VER".tar.gz -C "$BUILD"
    SRC="$BUILD/mmcv-$MMCV_VER"
    # torch >= 2.10 headers need C++20; mmcv 2.1.0 hard-codes C++14/17.
    sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$SRC/setup.py"
    BUILD_SETUPTOOLS="$(grep -E '^# mmcv-build:' "$PINS" | sed -E 's/.*: *//')"
    "${PIP[@]}" install "$BUILD_SETUPTOOLS" 2>&1 | grep -v "dependency conflicts\|requires setuptools" || true
    (cd "$SRC" && MMCV_WITH_OPS=1 FORCE_CUDA=0 CUDA_VISIBLE_DEVICES= MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "${PIP[@]}" wheel --no-deps --no-build-isolation -w "$CACHE" . ) \
      || fail "the mmcv build failed; read the compiler error above (gcc and python3-dev must be installed)"
    "${PIP[@]}" install -c "$PINS" setuptools || fail "could not restore $(pin setuptools) after the mmcv build"
    WHEEL="$(ls "$CACHE"/mmcv-"$MMCV_VER"-*.whl | head -1)"
  else
    echo "[setup] using cached wheel $WHEEL"
  fi
  "${PIP[@]}" install -c "$PINS" "$WHEEL" \
    || fail "remove the cached wheel ($WHEEL) and run setup again to rebuild it"
fi

step "4/6 OpenMMLab stack, codecarbon, openmim, pytest"
if have "$(pin mmengine)" "$(pin mmpretrain)" "$(pin mmsegmentation)" "$(pin codecarbon)" "$(pin openmim)" "$(pin pytest)"; then
  echo "[setup] already installed"
else
  "${PIP[@]}" install -c "$PINS" mmengine mmpretrain mmsegmentation codecarbon openmim pytest \
      matplotlib ftfy regex opencv-python \
    || fail "a pinned package could not be installed; see pip's error above and requirements/pinned.txt"
fi

step "5/6 mmdbp (editable) and its openmim entry"
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
mmdbp_installed() {
  # from outside the checkout, so that the check sees the installed package, not the cwd
  (cd / && "$VENV/bin/python" - "$ROOT" <<'PYEOF'
import os, sys
from importlib.metadata import PackageNotFoundError, version
try:
    version('mmdbp')
    import mmdbp
except (PackageNotFoundError, ImportError):
    sys.exit(1)
here = os.path.realpath(os.path.dirname(mmdbp.__file__))
sys.exit(here != os.path.realpath(os.path.join(sys.argv[1], 'mmdbp')))
PYEOF
  ) 2>/dev/null && [ -e "$SITE/mmdbp/.mim/configs" ] && [ -e "$SITE/mmdbp/.mim/tools/train.py" ] \
    && [ -e "$SITE/mmdbp/.mim/model-index.yml" ] && crop_decode_ok
}
if mmdbp_installed; then
  echo "[setup] already installed"
else
  "${PIP[@]}" install --no-deps --no-build-isolation -e "$ROOT" \
    || fail "pip could not install mmdbp from $ROOT; check setup.py"
  # openmim (`mim train/test mmdbp`) looks for <site-packages>/mmdbp/.mim/{configs,tools}, but
  # setuptools' editable installs keep no package folder in site-packages: link the checkout's.
  if [ -L "$SITE/mmdbp" ] || [ ! -e "$SITE/mmdbp" ]; then
    ln -sfn "$ROOT/mmdbp" "$SITE/mmdbp"
  fi
  mmdbp_installed || fail "mmdbp is not importable from $ROOT/mmdbp or $SITE/mmdbp/.mim is missing; \
remove $SITE/mmdbp and run 'bash tools/setup.sh' again"
fi

step "6/6 check imports"
"$VENV/bin/python" - <<'PYEOF' || fail "an import failed; run 'bash tools/setup.sh' again, or delete .venv to start over"
import torch, torchvision, mmcv, mmcv.ops, mmengine, mmpretrain, mmseg, codecarbon, mmdbp
print(f'[setup] torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, mmseg {mmseg.__version__}, mmdbp {mmdbp.__version__}')
PYEOF
echo "[setup] done: activate with 'source $VENV/bin/activate'"
