#!/usr/bin/env bash
# The project's test command (README, .ci/run): set up, lint, type-check, then every test including the
# integration suite that runs the playbooks over SSH into a real Debian root filesystem.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -m "not integration"`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export PATH="$PWD/.venv/bin:$PATH"   # ansible-playbook, ansible (testinfra) on PATH

echo "== ruff"
ruff check .
echo "== mypy"
mypy multiarc installer evaluation collect
echo "== ansible-lint"
if [[ -d collection ]]; then
    ANSIBLE_COLLECTIONS_PATH="$PWD/collection" ansible-lint --offline -q collection/ansible_collections/multiarc/platform
fi
echo "== pytest"
python -m pytest "$@"
