"""The probe files a fleet node sends back read like the node's own /sys.

On a real node the checks read sysfs from the copy the module ``multiarc_eval_steps``
makes: the device links of /sys/bus/pci/devices (the PCIe topology), each device's
``driver`` link (xe-bound GPUs), the BAR sizes and the DRM cards. This machine's real
/sys (no Intel GPU, but PCI devices with drivers) is copied and read back both ways.
"""

from __future__ import annotations

import importlib.util
import os
import tarfile
from pathlib import Path
from types import ModuleType

from multiarc.collect import probes
from multiarc.collection import COLLECTION_ROOT
from multiarc.evaluation import topology
from multiarc.evaluation.fleet_run import PROBE_GLOBS

# the part of multiarc_eval_steps that copies the probes (standard library only)
MODULE = COLLECTION_ROOT / "plugins" / "module_utils" / "eval_node.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_node", MODULE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_copy_reads_like_the_live_sysfs(tmp_path: Path) -> None:
    live = probes.pci_devices_from_sysfs(Path("/"))
    assert live, "this machine shows no PCI device in /sys"
    copied = _module().copy_probes("/", PROBE_GLOBS, str(tmp_path / "root"))
    assert copied > len(live)
    # the controller unpacks the node's archive with tarfile's "data" filter
    with tarfile.open(tmp_path / "run.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "root", arcname="root")
    with tarfile.open(tmp_path / "run.tar.gz") as tar:
        tar.extractall(tmp_path / "controller", filter="data")
    root = tmp_path / "controller" / "root"
    assert probes.pci_devices_from_sysfs(root) == live
    assert any(d.driver for d in live)  # links at the end of a path stay links
    for device in live:
        assert topology.sysfs_chain(root, device.bdf) == topology.sysfs_chain(Path("/"), device.bdf)
    assert probes.drm_cards(root) == probes.drm_cards(Path("/"))


def test_links_out_of_the_tree_are_not_followed(tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    devices = fake / "sys/bus/pci/devices"
    devices.mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "vendor").write_text("0x8086\n")
    os.symlink("../../../../../secret", devices / "0000:01:00.0")  # leads out of the root
    os.symlink(str(tmp_path / "secret"), devices / "0000:02:00.0")  # absolute
    dest = tmp_path / "copy"
    assert _module().copy_probes(str(fake), ["sys/bus/pci/devices/*/vendor"], str(dest)) == 0
    assert not any(p.is_file() for p in dest.rglob("*"))
