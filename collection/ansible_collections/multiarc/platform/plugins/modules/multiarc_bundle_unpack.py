#!/usr/bin/python
"""Receive a verified bundle on a node: room first, checksums on arrival, atomic swap."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: multiarc_bundle_unpack
short_description: Make room for, check and unpack a verified multiarc bundle on a node
description:
  - C(state=prepared) runs before the archive is sent. It puts back a copy that an
    interrupted swap left aside, removes what earlier runs of the installer left behind
    (partial and replaced trees, unfinished transfers) and checks that the file system
    holding I(dest) has room for the archive and the unpacked tree side by side (the
    current copy stays until the new one is complete). When it has not, it fails naming
    the sizes and what can be freed. It also says whether I(dest) already is a complete
    copy of this bundle (its C(.multiarc-unpacked) holds I(marker)); then nothing needs
    to be sent, and the room is not checked.
  - C(state=unpacked) checks the sent archive's sha256 against the one the controller
    verified, unpacks it beside the current copy (in C(.VERSION.partial-*)), checks every
    file's sha256 against the verified list as it is written, writes files with normal
    modes (0644, or 0755 when executable; folders 0755; owned by root), then swaps the new
    tree into place and removes the old one and the archive. Any failure (full disk
    included) removes the partial tree and the archive and keeps the current copy.
  - I(contents) (the repository index kept in the copy, apt's source for it) are written
    once I(dest) is a complete copy of this bundle, at C(prepared) when it already is (on a
    re-run, one module run and no other), else at C(unpacked) after the swap.
  - Check mode reports what would change and writes nothing.
options:
  state:
    type: str
    choices: [prepared, unpacked]
    required: true
  dest:
    description: The node's bundle folder (C(<bundles root>/<version>)).
    type: path
    required: true
  archive:
    description: Where the archive is (to be) sent on the node.
    type: path
    required: true
  sha256:
    description: The sha256 of the archive the controller verified.
    type: str
    required: true
  top:
    description: The archive's top folder (stripped).
    type: str
    required: true
  files:
    description: Every file of the bundle as C([path, size, sha256]) (tree-relative).
    type: list
    elements: list
    default: []
  links:
    description: Every symbolic link of the bundle, as a mapping from its path to its target.
    type: dict
    default: {}
  marker:
    description: Content of C(.multiarc-unpacked) in a complete copy (identifies it).
    type: str
    required: true
  archive_bytes:
    type: int
    default: 0
  unpacked_bytes:
    type: int
    default: 0
  contents:
    description: Files I(dest) with exactly I(content) and I(mode) (default 0644), see above.
    type: list
    elements: dict
    default: []
author: multiarc
"""

RETURN = r"""
free_bytes:
  description: Free bytes on the file system of I(dest) (prepared).
  type: int
  returned: always
removed:
  description: Leftovers of earlier runs that were removed.
  type: list
  returned: always
current:
  description: Whether I(dest) is a complete copy of this bundle already (prepared).
  type: bool
  returned: always
written:
  description: The I(contents) written (or, in check mode, that would be), one line each.
  type: list
  returned: always
"""

import contextlib  # noqa: E402
import errno  # noqa: E402
import hashlib  # noqa: E402
import os  # noqa: E402
import posixpath  # noqa: E402
import shutil  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.multiarc.platform.plugins.module_utils.bundle_room import (  # noqa: E402
    MARKER,
    advice,
    free_bytes,
    human,
    is_current,
    leftovers,
    margin,
    put_back,
)
from ansible_collections.multiarc.platform.plugins.module_utils.file_batch import (  # noqa: E402
    Batch,
)

CHUNK = 1 << 20


class Refused(Exception):
    pass


def write_contents(module, p):
    """The I(contents), in a folder that is a complete copy: the changes made."""
    batch = Batch(module)
    for item in p["contents"]:
        mode = int(str(item.get("mode") or "0644"), 8)
        batch.content(item["dest"], item["content"], mode)
    return batch.changes


def prepare(module, p):
    dest = p["dest"]
    root = os.path.dirname(dest)
    result = {"changed": False, "removed": [], "free_bytes": 0, "current": False, "written": []}
    if module.check_mode:
        if os.path.isdir(root):
            result["free_bytes"] = free_bytes(root)
        result["current"] = is_current(dest, p["marker"])
        if result["current"]:
            result["written"] = write_contents(module, p)
            result["changed"] = bool(result["written"])
        return result
    os.makedirs(root, mode=0o755, exist_ok=True)
    restored = put_back(root, dest)
    result["current"] = is_current(dest, p["marker"])
    for path in leftovers(root):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
        result["removed"].append(path)
    if result["current"]:
        result["written"] = write_contents(module, p)
    result["changed"] = bool(result["removed"] or restored or result["written"])
    free = free_bytes(root)
    result["free_bytes"] = free
    need = p["archive_bytes"] + p["unpacked_bytes"] + margin(p["unpacked_bytes"])
    if free < need and not result["current"]:
        module.fail_json(
            msg=(
                f"not enough disk space for bundle {os.path.basename(dest)} under {root}: "
                f"{human(need)} needed (archive {human(p['archive_bytes'])} + unpacked "
                f"{human(p['unpacked_bytes'])} + margin), {human(free)} free; "
                + advice(root, dest, need - free)
            ),
            **result,
        )
    return result


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def relative(name, top):
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    if name == top:
        return None
    if not name.startswith(top + "/"):
        raise Refused(f"{name} is outside the bundle's top folder")
    rel = name[len(top) + 1 :]
    parts = rel.split("/")
    if rel.startswith("/") or ".." in parts or "" in parts:
        raise Refused(f"unsafe path {name!r}")
    return rel


def inside(base, path):
    real = os.path.realpath(path)
    return real == base or real.startswith(base + os.sep)


def write_member(tar, member, rel, tmp, expected, p):
    target = os.path.join(tmp, rel)
    parent = os.path.dirname(target)
    if member.isdir():
        os.makedirs(target, mode=0o755, exist_ok=True)
        return None
    os.makedirs(parent, mode=0o755, exist_ok=True)
    if not inside(os.path.realpath(tmp), parent):
        raise Refused(f"{rel} would be written through a link")
    if member.issym():
        if p["links"].get(rel) != member.linkname:
            raise Refused(f"link {rel} is not the verified one")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), member.linkname))
        if member.linkname.startswith("/") or resolved.startswith(".."):
            raise Refused(f"link {rel} leaves the bundle")
        os.symlink(member.linkname, target)
        return None
    if member.islnk():
        source = os.path.join(tmp, relative(member.linkname, p["top"]))
        os.link(source, target, follow_symlinks=False)
        return rel
    if not member.isreg() or rel not in expected:
        raise Refused(f"{rel} is not a file of the verified bundle")
    mode = 0o755 if member.mode & 0o111 else 0o644
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(fd, "wb") as out:
        source = tar.extractfile(member)
        while block := source.read(CHUNK):
            digest.update(block)
            size += len(block)
            out.write(block)
    os.chmod(target, mode)
    if (size, digest.hexdigest()) != expected[rel]:
        raise Refused(f"{rel}: sha256 differs from the verified bundle")
    return rel


def unpack_into(archive, tmp, p):
    expected = {path: (int(size), digest) for path, size, digest in p["files"]}
    written = set()
    with tarfile.open(archive, mode="r|xz") as tar:
        for member in tar:
            rel = relative(member.name, p["top"])
            if rel is None:
                continue
            if not (member.isdir() or member.isreg() or member.issym() or member.islnk()):
                raise Refused(f"{member.name} has an unsupported type")
            done = write_member(tar, member, rel, tmp, expected, p)
            if done:
                written.add(done)
    missing = sorted(set(expected) - written)
    if missing:
        raise Refused(f"{missing[0]} is missing from the archive")


def swap(tmp, dest):
    root = os.path.dirname(dest)
    if os.path.lexists(dest):
        old = tempfile.mkdtemp(prefix="." + os.path.basename(dest) + ".old-", dir=root)
        os.rename(dest, os.path.join(old, "tree"))
        os.rename(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, dest)


def unpack(module, p):
    if module.check_mode:
        return {"changed": True, "written": [f"wrote {c['dest']}" for c in p["contents"]]}
    try:
        return _unpack(module, p)
    finally:  # Ansible's transfer folder (the copy task's remote_tmp), once empty
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(os.path.dirname(p["dest"]), ".transfer"))


def _unpack(module, p):
    dest, archive = p["dest"], p["archive"]
    root = os.path.dirname(dest)
    found = sha256_of(archive)
    if found != p["sha256"]:
        os.unlink(archive)
        module.fail_json(
            msg=(
                f"the bundle archive that arrived at {archive} is not the verified one "
                f"(sha256 {found[:12]}…, verified {p['sha256'][:12]}…); nothing was unpacked"
            )
        )
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(dest) + ".partial-", dir=root)
    try:
        os.chmod(tmp, 0o755)
        unpack_into(archive, tmp, p)
        with open(os.path.join(tmp, MARKER), "w") as handle:
            handle.write(p["marker"])
        swap(tmp, dest)
    except (Refused, OSError, tarfile.TarError, EOFError) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.exists(archive):
            os.unlink(archive)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            free = free_bytes(root)
            short = p["unpacked_bytes"] + margin(p["unpacked_bytes"]) - free
            module.fail_json(
                msg=(
                    f"disk full while unpacking bundle {os.path.basename(dest)} under {root}; "
                    "the partial tree and the archive were removed, the current copy kept; "
                    + advice(root, dest, max(short, 1 << 20))
                )
            )
        module.fail_json(msg=f"bundle {os.path.basename(dest)} was not unpacked: {err}")
    os.unlink(archive)
    return {"changed": True, "written": write_contents(module, p)}


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "required": True, "choices": ["prepared", "unpacked"]},
            "dest": {"type": "path", "required": True},
            "archive": {"type": "path", "required": True},
            "sha256": {"type": "str", "required": True},
            "top": {"type": "str", "required": True},
            "files": {"type": "list", "elements": "list", "default": []},
            "links": {"type": "dict", "default": {}},
            "marker": {"type": "str", "required": True},
            "archive_bytes": {"type": "int", "default": 0},
            "unpacked_bytes": {"type": "int", "default": 0},
            "contents": {"type": "list", "elements": "dict", "default": []},
        },
        supports_check_mode=True,
    )
    p = module.params
    result = prepare(module, p) if p["state"] == "prepared" else unpack(module, p)
    result.setdefault("removed", [])
    result.setdefault("free_bytes", 0)
    result.setdefault("written", [])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
