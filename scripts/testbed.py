"""A throwaway test node and a fixture bundle, to try multiarc-install without a B60 server.

The same parts the integration suite uses (tests/integration/rootfs.py,
tests/fixtures/synthetic_bundle.py), as commands for a person:

    sudo .venv/bin/python scripts/testbed.py bundle-tree /tmp/tb  # fixture, NOT Intel software
    sudo .venv/bin/python scripts/testbed.py up /tmp/tb/node      # trixie root, sshd on loopback
    sudo .venv/bin/python scripts/testbed.py down /tmp/tb/node    # stop, unmount, delete

``up`` debootstraps the image once (about a minute; cached under ~/.cache/multiarc-tests),
copies it to WORKDIR/node1/root, bind-mounts /proc, /sys and /dev into it, starts a
chrooted sshd on loopback and writes WORKDIR/inventory.ini for ``--inventory``. It needs
root, debootstrap and openssh (``sudo bash scripts/setup.sh --test`` installs them).
Nothing outside WORKDIR and the cache is touched; ``down`` undoes everything ``up`` did.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fixtures import synthetic_bundle  # noqa: E402
from tests.integration import rootfs  # noqa: E402

STATE_FILE = "testbed.json"


def cmd_bundle_tree(dest: Path, payload_mb: float) -> int:
    top = synthetic_bundle.build_bundle_tree(dest, payload_mb=payload_mb)
    print(f"fixture bundle tree (test packages named like Intel's, not Intel software): {top}")
    print(f"next: multiarc-install bundle create {top} -o {dest / 'bundle.tar.xz'}")
    return 0


def cmd_up(workdir: Path, address: str) -> int:
    try:
        rootfs.require_harness()
    except rootfs.HarnessUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    if (workdir / STATE_FILE).exists():
        print(f"error: {workdir} holds a node; run: testbed.py down {workdir}", file=sys.stderr)
        return 2
    workdir.mkdir(parents=True, exist_ok=True)
    print("image:", rootfs.build_image(workdir / "debootstrap.log"))
    lower = rootfs.unpack_image(rootfs.image_path(), workdir / "lower")
    key = rootfs.make_key(workdir)
    node = rootfs.Node("node1", lower, workdir / "node1", key, address)
    try:
        node.start()
    except Exception:
        node.stop()
        raise
    inventory = rootfs.write_inventory([node], workdir / "inventory.ini")
    state = {"sshd_pid": node.sshd_pid, "root": str(node.root), "port": node.port}
    (workdir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    print(f"node1: root {node.root}, sshd on {address}:{node.port}")
    print(f"inventory: {inventory}")
    print(f"ssh: ssh -i {key} -p {node.port} -o StrictHostKeyChecking=no root@{address}")
    print(f"stop it with: testbed.py down {workdir}")
    return 0


def cmd_down(workdir: Path, keep: bool) -> int:
    state_path = workdir / STATE_FILE
    if not state_path.is_file():
        print(f"error: no node in {workdir} ({STATE_FILE} missing)", file=sys.stderr)
        return 2
    state = json.loads(state_path.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(int(state["sshd_pid"]), signal.SIGTERM)
    time.sleep(0.5)
    root = Path(state["root"])
    rootfs.kill_processes_in(root)
    rootfs.unmount_below(root)
    state_path.unlink()
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"stopped node1 and unmounted {root}" + ("" if keep else f"; removed {workdir}"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("bundle-tree", help="write the fixture bundle tree into DEST")
    p.add_argument("dest", type=Path)
    p.add_argument("--payload-mb", type=float, default=1.0, help="filler spread over packages")
    p = sub.add_parser("up", help="start a test node in WORKDIR and write WORKDIR/inventory.ini")
    p.add_argument("workdir", type=Path)
    p.add_argument("--address", default="127.0.0.1", help="a loopback address (127.x.y.z)")
    p = sub.add_parser("down", help="stop the node of WORKDIR, unmount, delete WORKDIR")
    p.add_argument("workdir", type=Path)
    p.add_argument("--keep", action="store_true", help="keep WORKDIR (the node's root) for a look")
    args = parser.parse_args(argv)
    if args.command == "bundle-tree":
        return cmd_bundle_tree(args.dest, args.payload_mb)
    if args.command == "up":
        if not args.address.startswith("127."):
            parser.error("--address must be a loopback address (127.x.y.z)")
        return cmd_up(args.workdir.resolve(), args.address)
    return cmd_down(args.workdir.resolve(), args.keep)


if __name__ == "__main__":
    sys.exit(main())
