#!/usr/bin/python
"""Index the .deb packages of an extracted offline bundle as a flat apt repository."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: multiarc_bundle_index
short_description: Index the .deb packages of an extracted multiarc offline bundle
description:
  - Reads every C(*.deb) in the given component folders of an extracted bundle with
    C(dpkg-deb) and returns the text of a flat apt C(Packages) index (control fields plus
    Filename, Size and SHA256, the same stanzas C(dpkg-scanpackages) writes) and, per
    component, each package's name, version and C(name=version) spec.
  - Read-only, so it supports check mode. The local_repo role runs it once on the
    controller, where the verified bundle was extracted; the node then needs no dpkg-dev.
    C(multiarc-install) computes the same index itself with this file's C(index_bundle)
    before the playbook (kept with its extracted bundle, so that a re-run does not index
    again) and passes it as C(multiarc_bundle_index); the role runs this module only
    when that variable is not set (a playbook of one's own).
  - When the bundle has its manifest (C(manifest.json), verified before extraction), each
    package's SHA256 is taken from it (for a file of the listed size) instead of being
    computed again; Intel's archives without a manifest are hashed here.
  - Also lists the firmware blobs under C(firmware/) with the path under C(/lib/firmware)
    each one is installed to. This is the one place of that rule, also used by
    C(multiarc-install --verify). A file directly in C(firmware/) is a GuC/HuC blob for
    the xe driver (Intel's layout, C(xe/<name>)); folders below C(firmware/) mirror
    C(/lib/firmware), so C(firmware/i915/bmg_dmc.bin) goes to C(i915/bmg_dmc.bin).
options:
  path:
    description: Top folder of the extracted bundle.
    type: path
    required: true
  components:
    description: Folders under I(path) holding packages; missing folders are empty.
    type: list
    elements: str
    required: true
author: multiarc
"""

RETURN = r"""
index:
  description: The Packages index, with Filename relative to I(path).
  type: str
  returned: always
packages:
  description: Per component, a list of dicts with name, version, architecture, filename, spec.
  type: dict
  returned: always
firmware:
  description: >-
    The firmware blobs, each a dict with src (path in the bundle), dest (path under
    /lib/firmware) and sha256.
  type: list
  returned: always
count:
  description: Number of packages indexed.
  type: int
  returned: always
"""

import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

# Fields dpkg-scanpackages appends after the control fields, in its order.
CHUNK = 1 << 20


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(CHUNK)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def _manifest_digests(root):
    """path -> (size, sha256) from the bundle's manifest.json ({} without one)."""
    try:
        with open(os.path.join(root, "manifest.json")) as handle:
            files = json.load(handle).get("files", [])
    except (OSError, ValueError, AttributeError):
        return {}
    found = {}
    for entry in files if isinstance(files, list) else []:
        if isinstance(entry, dict) and {"path", "size", "sha256"} <= entry.keys():
            found[entry["path"]] = (entry["size"], entry["sha256"])
    return found


FIRMWARE_FOLDER = "firmware"
FLAT_FIRMWARE_DEST = "xe"  # Intel's layout: firmware/*.bin.zst are the xe driver's blobs


def firmware_files(root, known=None):
    """[{src, dest, sha256}] of every file below the bundle's firmware/ folder, sorted.

    dest is relative to /lib/firmware: xe/<name> for a file directly in firmware/, the
    same relative path for a file in a folder below it."""
    top = os.path.join(root, FIRMWARE_FOLDER)
    known = _manifest_digests(root) if known is None else known
    found = []
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, top).replace(os.sep, "/")
            src = f"{FIRMWARE_FOLDER}/{rel}"
            listed = known.get(src)
            size = os.path.getsize(path)
            digest = listed[1] if listed and listed[0] == size else _sha256(path)
            dest = rel if "/" in rel else f"{FLAT_FIRMWARE_DEST}/{rel}"
            found.append({"src": src, "dest": dest, "sha256": digest})
    return found


class BundleIndexError(Exception):
    """A package the index cannot describe (the message says which and why)."""


def _control(run, deb):
    rc, out, err = run(["dpkg-deb", "--field", deb])
    if rc != 0:
        raise BundleIndexError(f"dpkg-deb cannot read {deb}: {err.strip()}")
    text = out.rstrip("\n")
    fields = {}
    for line in text.splitlines():
        if line[:1] not in (" ", "\t") and ":" in line:
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    for key in ("Package", "Version", "Architecture"):
        if key not in fields:
            raise BundleIndexError(f"{deb} has no {key} field")
    return text, fields


def index_bundle(root, components, run):
    """The index of an extracted bundle: {index, packages, firmware, count}.

    ``run(argv)`` returns (rc, stdout, stderr): the module's run_command here, a
    subprocess call when multiarc-install indexes the bundle itself before the playbook."""
    stanzas = []
    packages = {}
    known = _manifest_digests(root)
    for component in components:
        folder = os.path.join(root, component)
        found = []
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        for name in names:
            deb = os.path.join(folder, name)
            if not name.endswith(".deb") or not os.path.isfile(deb):
                continue
            text, fields = _control(run, deb)
            rel = f"{component}/{name}"
            size = os.path.getsize(deb)
            listed = known.get(rel)
            digest = listed[1] if listed and listed[0] == size else _sha256(deb)
            stanzas.append(f"{text}\nFilename: ./{rel}\nSize: {size}\nSHA256: {digest}\n")
            found.append(
                {
                    "name": fields["Package"],
                    "version": fields["Version"],
                    "architecture": fields["Architecture"],
                    "filename": rel,
                    "spec": f"{fields['Package']}={fields['Version']}",
                }
            )
        packages[component] = found
    return {
        "index": "\n".join(stanzas),
        "packages": packages,
        "firmware": firmware_files(root, known),
        "count": len(stanzas),
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "components": {"type": "list", "elements": "str", "required": True},
        },
        supports_check_mode=True,
    )
    root = module.params["path"]
    if not os.path.isdir(root):
        module.fail_json(msg=f"bundle folder {root} not found on the controller")
    if module.get_bin_path("dpkg-deb") is None:
        module.fail_json(msg="dpkg-deb not found on the controller (install the dpkg package)")
    try:
        found = index_bundle(
            root, module.params["components"], lambda argv: module.run_command(argv)
        )
    except BundleIndexError as err:
        module.fail_json(msg=str(err))
    module.exit_json(changed=False, **found)


if __name__ == "__main__":
    main()
