#!/usr/bin/env bash
# Install SiameseIM Suite and its pinned OpenMMLab stack into one Python. Run with --help for details.
set -euo pipefail
shopt -s nullglob

usage() {
    cat <<'EOF'
Usage: bash tools/install.sh [--wheel-dir DIR] [--rebuild-mmcv] [--verify-only] [-h|--help]

Installs SiameseIM Suite into the current Python (${PYTHON:-python3} -m pip): torch and torchvision
(only when absent), mmcv 2.1.0 with compiled ops, mmengine, mmdet, mmsegmentation, timm, lvis, the
evaluation and test tools, the optional checkpoint readers (safetensors, transformers, open_clip_torch), then
the project itself (editable), and verifies the result with
tools/verify_install.py. A second run only checks what is there and takes seconds.

mmcv 2.1.0 comes from the first of: an install that already works; a wheel in --wheel-dir; the wheel
cache; a build from source (about 15 minutes on 2 cores), whose wheel is then cached.

Options:
  --wheel-dir DIR  look for a prebuilt mmcv-2.1.0 wheel in DIR (default: $SIAMESEIM_WHEEL_DIR)
  --rebuild-mmcv   build mmcv from source even where an install, a wheel or a cached wheel exists
  --verify-only    only run the checks
  -h, --help       show this help

Environment:
  PYTHON               the Python to install into (default: python3)
  TORCH_VERSION        torch installed when none is (default: 2.14.1)
  TORCHVISION_VERSION  torchvision installed with it (default: 0.29.1)
  SIAMESEIM_WHEEL_DIR  as --wheel-dir
  SIAMESEIM_CACHE_DIR  built mmcv wheels, per torch version (default: ${XDG_CACHE_HOME:-~/.cache}/siameseim/wheels)
  MAX_JOBS             compile jobs for the mmcv build (default: the number of cores)
EOF
}

MMCV_VERSION=2.1.0
STEPS=7
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
WHEEL_DIR="${SIAMESEIM_WHEEL_DIR:-}"
CACHE_ROOT="${SIAMESEIM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/siameseim/wheels}"
REBUILD_MMCV=0
VERIFY_ONLY=0
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

die() {
    echo "install.sh: error: $*" >&2
    exit 1
}

step() {
    echo "[install $1/$STEPS] $2"
}

pip_install() {
    "$PY" -m pip install --quiet "$@"
}

verify() {
    "$PY" "$REPO/tools/verify_install.py" "$@"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --wheel-dir)
            [[ $# -ge 2 ]] || die "--wheel-dir needs a directory: --wheel-dir DIR"
            WHEEL_DIR="$2"
            shift 2
            ;;
        --wheel-dir=*) WHEEL_DIR="${1#*=}"; shift ;;
        --rebuild-mmcv) REBUILD_MMCV=1; shift ;;
        --verify-only) VERIFY_ONLY=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option '$1' (see bash tools/install.sh --help)" ;;
    esac
done

[[ -z "$WHEEL_DIR" || -d "$WHEEL_DIR" ]] \
    || die "wheel directory '$WHEEL_DIR' does not exist: fix --wheel-dir or SIAMESEIM_WHEEL_DIR"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null \
    || die "'$PY' is not a Python >= 3.10: set PYTHON=/path/to/python3.11"

if [[ $VERIFY_ONLY == 1 ]]; then
    verify
    exit 0
fi

START=$SECONDS

# 1. torch and torchvision: kept as they are when both import (a CUDA or CPU build chosen by the user).
torch_version() {
    "$PY" -c 'import torch, torchvision; print(torch.__version__)' 2>/dev/null
}
if TORCH="$(torch_version)"; then
    step 1 "torch: found $TORCH, keeping it"
else
    TORCH_VERSION="${TORCH_VERSION:-2.14.1}"
    TORCHVISION_VERSION="${TORCHVISION_VERSION:-0.29.1}"
    step 1 "torch: installing torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION"
    pip_install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
    TORCH="$(torch_version)" || die "torch $TORCH_VERSION with torchvision $TORCHVISION_VERSION does not import:" \
        "set TORCH_VERSION and TORCHVISION_VERSION to a matching pair"
fi
TORCH_DIST="$("$PY" -c 'from importlib.metadata import version; print(version("torch"))')"
TORCHVISION_DIST="$("$PY" -c 'from importlib.metadata import version; print(version("torchvision"))')"
PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
MMCV_CACHE="$CACHE_ROOT/torch-$TORCH"

# Every later pip call keeps torch, torchvision and mmcv where they are, and setuptools below 82: mmcv's
# setup.py and mmengine's package lookup import pkg_resources, which setuptools 82 removed. (setuptools<70,
# as older mmcv build notes say, would not last: torch 2.14 requires setuptools>=77.0.3, so the next
# install that resolves torch upgrades it again.)
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
printf 'torch==%s\ntorchvision==%s\nmmcv==%s\nsetuptools<82\n' \
    "$TORCH_DIST" "$TORCHVISION_DIST" "$MMCV_VERSION" > "$WORK/constraints.txt"
PIN=(-c "$WORK/constraints.txt")

# 2. Build tools for mmcv.
step 2 "build tools: setuptools<82 (with pkg_resources), wheel, ninja, psutil"
pip_install "${PIN[@]}" "setuptools<82" wheel ninja psutil

# 3. The libraries; mmcv's own runtime requirements are listed because mmcv is installed with --no-deps.
step 3 "libraries: mmengine 0.10.7, mmdet 3.3.0, mmsegmentation 1.2.2, timm, evaluation and test tools"
pip_install "${PIN[@]}" mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 "timm>=0.9,<2" \
    pycocotools ftfy regex scipy matplotlib opencv-python pytest "coverage>=7.10" addict packaging Pillow pyyaml yapf \
    tensorboard

# 4. lvis 0.5.3's metadata also asks for Cython and other build-time leftovers; what it imports came with step 3.
# cyanure ships wheels for common platforms only; without it robustness.few_shot solves the same objective itself.
step 4 "lvis 0.5.3 (--no-deps); optional: cyanure (the 1 % few-shot solver), safetensors, transformers, open_clip_torch"
pip_install --no-deps lvis==0.5.3
pip_install "${PIN[@]}" "cyanure>=1.2" \
    || echo "    cyanure did not install (no wheel for this platform?): few-shot falls back to its L-BFGS solver"
# The optional checkpoint readers (setup.cfg extra 'formats'): safetensors files, and the tests' oracles for
# Hugging Face and OpenCLIP checkpoints (the importer itself needs neither transformers nor open_clip).
pip_install "${PIN[@]}" safetensors transformers open_clip_torch \
    || echo "    safetensors / transformers / open_clip_torch did not install: .safetensors files cannot be read" \
        "and the tests that build those oracles are skipped"

# 5. mmcv with compiled ops.
install_mmcv_wheel() {
    pip_install --no-deps --force-reinstall "$1"
    verify --quiet --check mmcv
}

cache_mmcv_wheel() {
    local cached="$MMCV_CACHE/$(basename "$1")"
    mkdir -p "$MMCV_CACHE"
    if [[ ! "$1" -ef "$cached" ]]; then
        rm -f "$cached"
        cp "$1" "$cached"
        chmod 644 "$cached"
    fi
}

build_mmcv_wheel() {
    local jobs="${MAX_JOBS:-$(nproc)}" log="$MMCV_CACHE/mmcv-$MMCV_VERSION-build.log" src="$WORK/mmcv-$MMCV_VERSION"
    mkdir -p "$MMCV_CACHE"
    echo "    building with $jobs jobs (about 15 minutes on 2 idle cores); log: $log"
    "$PY" -m pip download --quiet --no-cache-dir --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" \
        -d "$WORK" \
        || die "could not download the mmcv $MMCV_VERSION source: check the network or pass --wheel-dir"
    tar -xzf "$WORK/mmcv-$MMCV_VERSION.tar.gz" -C "$WORK"
    # torch 2.14's headers need C++20; mmcv 2.1.0 asks for C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    grep -q -- '-std=c++20' "$src/setup.py" || die "mmcv's setup.py has no -std=c++17 to raise: update tools/install.sh"
    # With build isolation, pip builds in an environment without torch and the ops silently vanish.
    # --no-cache-dir: the wheel is kept in this script's cache, keyed by torch version, not in pip's.
    if ! MMCV_WITH_OPS=1 MAX_JOBS="$jobs" "$PY" -m pip wheel --no-cache-dir --no-deps --no-build-isolation \
        -w "$WORK/dist" "$src" > "$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "the mmcv $MMCV_VERSION build failed (last lines above): fix the compiler error or pass --wheel-dir"
    fi
    local built=("$WORK"/dist/mmcv-"$MMCV_VERSION"-*.whl)
    [[ ${#built[@]} == 1 ]] || die "the mmcv build left no wheel in $WORK/dist: see $log"
    "$PY" -m zipfile -l "${built[0]}" | grep 'mmcv/_ext' > /dev/null \
        || die "the mmcv build produced no compiled ops (mmcv/_ext*.so): see $log"
    cache_mmcv_wheel "${built[0]}"
    BUILT_WHEEL="$MMCV_CACHE/$(basename "${built[0]}")"
    echo "    cached $BUILT_WHEEL"
}

install_mmcv() {
    local wheel_glob="mmcv-$MMCV_VERSION-$PYTAG-$PYTAG-*$(uname -m).whl" wheel
    if [[ $REBUILD_MMCV == 0 ]]; then
        if verify --quiet --check mmcv 2>/dev/null; then
            step 5 "mmcv $MMCV_VERSION: installed, compiled ops load with torch $TORCH, keeping it"
            return
        fi
        for wheel in ${WHEEL_DIR:+"$WHEEL_DIR"/$wheel_glob}; do
            step 5 "mmcv $MMCV_VERSION: trying prebuilt wheel $wheel"
            if install_mmcv_wheel "$wheel"; then
                cache_mmcv_wheel "$wheel"
                return
            fi
            echo "    that wheel fails the check above, trying the next source"
        done
        for wheel in "$MMCV_CACHE"/$wheel_glob; do
            step 5 "mmcv $MMCV_VERSION: using cached wheel $wheel"
            install_mmcv_wheel "$wheel" && return
            echo "    the cached wheel fails the check above, building a new one"
        done
    fi
    step 5 "mmcv $MMCV_VERSION: building from source for torch $TORCH"
    build_mmcv_wheel
    install_mmcv_wheel "$BUILT_WHEEL" \
        || die "the freshly built mmcv fails its check (line above): see $MMCV_CACHE/mmcv-$MMCV_VERSION-build.log"
}
install_mmcv

# 6. The project itself, editable. Steps 1-5 installed its requirements; --no-deps keeps lvis's metadata
# from pulling in what it pins (Cython and co.), and step 7 checks that everything imports.
step 6 "siameseim (editable, from $REPO)"
pip_install --no-deps --no-build-isolation -e "$REPO"

# 7. Verify, including that nothing above replaced mmcv.
step 7 "verifying"
verify
echo "install.sh: done in $((SECONDS - START)) s"
