"""Where things live on a target system: one place for every tool and state path."""

from __future__ import annotations

import os
from pathlib import Path

# Installed layout (what the installer writes, what evaluation and collect read).
MULTIARC_HOME = Path("/opt/intel/multi-arc")
MULTIARC_TOOLS = MULTIARC_HOME / "tools"
LEVEL_ZERO_TESTS_DIR = MULTIARC_TOOLS / "level-zero-tests"
REFERENCE_CSV = MULTIARC_HOME / "results" / "reference_perf.csv"
ONEAPI_ROOT = Path("/opt/intel/oneapi")
ONEAPI_SETVARS = ONEAPI_ROOT / "setvars.sh"
CCL_BENCHMARK = Path("/usr/bin/1ccl_benchmark")
FIRMWARE_ROOT = Path("/lib/firmware")  # blobs under xe/ and i915/ (firmware role)

# Installer state.
STATE_DIR = Path(os.environ.get("MULTIARC_STATE_DIR", "/var/lib/multiarc"))
STATE_FILE = STATE_DIR / "state.json"
INSTALL_LOG_DIR = Path(os.environ.get("MULTIARC_LOG_DIR", "/var/log/multiarc"))
BUNDLES_DIR = STATE_DIR / "bundles"  # extracted bundles, one folder per version
INSTALL_LOCK_FILE = STATE_DIR / "install.lock"  # held (fcntl) by the running multiarc-install
# the verification verdicts on bundle archives, by sha256 (installer/bundle_memo.py)
VERDICTS_DIR = STATE_DIR / "verified-bundles"
RUNNER_DIR = STATE_DIR / "runner"  # ansible-runner private data of the last runs
# On each node (fixed paths, whatever the controller's state folder): what the node has
# installed (read by --verify) and the lock one installer at a time holds there.
NODE_STATE_FILE = Path("/var/lib/multiarc/node-state.json")
NODE_LOCK_FILE = Path("/var/lib/multiarc/node.lock")

# Folders searched for tools beyond PATH, in order.
TOOL_SEARCH_DIRS: tuple[Path, ...] = (
    LEVEL_ZERO_TESTS_DIR,
    MULTIARC_TOOLS,
    ONEAPI_ROOT / "mpi" / "latest" / "bin",
    ONEAPI_ROOT / "compiler" / "latest" / "bin",
    Path("/usr/bin"),
    Path("/usr/local/bin"),
)

# The source tree (a checkout; an installed wheel carries what it needs as package data).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
