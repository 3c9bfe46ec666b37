#!/usr/bin/python
"""Put a role's files in place in one module call: links, contents, lines, copies."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: multiarc_files
short_description: Several idempotent file changes on a node in one module run
description:
  - A role's small file changes (mask units with links to /dev/null, write a settings file,
    make sure a line is in a config file, copy files or folders from the node's bundle copy,
    backing up what they replace) in one call instead of one task per item; every module
    run costs an SSH round trip and a Python start on the node, and the roles stay lean.
  - Each change is made only when needed (content and mode compared), atomically (a
    temporary file in the same folder, then rename). Supports check mode and diff mode.
options:
  originals:
    description:
      - Keep a copy of I(src) at I(dest) once, before anything else here changes I(src),
        only when I(dest) does not exist yet (the system's own first version, kept for
        good; modes kept). Nothing when I(src) does not exist.
    type: list
    elements: dict
    default: []
  directories:
    description: Folders to create (with parents), mode 0755.
    type: list
    elements: path
    default: []
  links:
    description: Symbolic links I(dest) -> I(src); whatever else is at I(dest) is replaced.
    type: list
    elements: dict
    default: []
  contents:
    description: Files I(dest) with exactly I(content) and I(mode) (default 0644).
    type: list
    elements: dict
    default: []
  lines:
    description:
      - Make I(line) the last line matching I(regexp) in I(path), or append it.
      - I(missing) says what to do when I(path) does not exist, C(skip) (default) or C(fail).
    type: list
    elements: dict
    default: []
  copies:
    description:
      - Copy I(src) on the node to I(dest) (a file, or every file below a folder), keeping
        modes; with I(backup_dir), the first version of a file that a copy replaces is kept
        there under its name.
      - With I(sha256) (a file copy), the bytes copied must have that digest, and so must
        I(dest) afterwards; otherwise the module fails naming the file (in check mode the
        source is checked).
    type: list
    elements: dict
    default: []
author: multiarc
"""

RETURN = r"""
changes:
  description: One line per change made (or, in check mode, that would be made).
  type: list
  returned: always
"""

import filecmp  # noqa: E402
import hashlib  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


class Batch:
    def __init__(self, module):
        self.module = module
        self.check = module.check_mode
        self.changes = []
        self.diffs = []

    def note(self, text, before=None, after=None, path=None):
        self.changes.append(text)
        if before is not None or after is not None:
            self.diffs.append(
                {
                    "before": before or "",
                    "after": after or "",
                    "before_header": path,
                    "after_header": path,
                }
            )

    def write(self, dest, data, mode):
        folder = os.path.dirname(dest) or "."
        fd, tmp = tempfile.mkstemp(prefix=".multiarc-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, mode)
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    # the kinds of change
    def directory(self, path):
        if os.path.isdir(path):
            return
        self.note(f"created folder {path}")
        if not self.check:
            os.makedirs(path, 0o755, exist_ok=True)

    def link(self, dest, src):
        if os.path.islink(dest) and os.readlink(dest) == src:
            return
        self.note(f"linked {dest} -> {src}")
        if self.check:
            return
        if os.path.isdir(dest) and not os.path.islink(dest):
            self.module.fail_json(msg=f"{dest} is a folder, not replaced by a link")
        tmp = os.path.join(os.path.dirname(dest), f".multiarc-link-{os.getpid()}")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(src, tmp)
        os.replace(tmp, dest)

    def content(self, dest, text, mode):
        data = text.encode()
        before = None
        if os.path.isfile(dest) and not os.path.islink(dest):
            with open(dest, "rb") as handle:
                before = handle.read()
            same_mode = stat.S_IMODE(os.stat(dest).st_mode) == mode
            if before == data and same_mode:
                return
        self.note(
            f"wrote {dest}",
            (before or b"").decode(errors="replace"),
            text,
            dest,
        )
        if not self.check:
            self.write(dest, data, mode)

    def original(self, src, dest):
        if os.path.lexists(dest) or not os.path.isfile(src):
            return
        self.note(f"kept the original {src} as {dest}")
        if self.check:
            return
        with open(src, "rb") as handle:
            self.write(dest, handle.read(), stat.S_IMODE(os.stat(src).st_mode))

    def line(self, path, regexp, line, missing):
        if not os.path.isfile(path):
            if missing == "fail":
                self.module.fail_json(msg=f"{path} does not exist")
            return
        with open(path) as handle:
            text = handle.read()
        lines = text.splitlines()
        pattern = re.compile(regexp)
        hits = [i for i, item in enumerate(lines) if pattern.search(item)]
        if hits:
            if lines[hits[-1]] == line:
                return
            lines[hits[-1]] = line
        else:
            lines.append(line)
        after = "\n".join(lines) + "\n"
        self.note(f"set a line in {path}: {line}", text, after, path)
        if not self.check:
            self.write(path, after.encode(), stat.S_IMODE(os.stat(path).st_mode))

    def copy(self, src, dest, backup_dir, sha256=None):
        if sha256:
            self.expect_digest(src, sha256, "the bundle's copy")
            if not os.path.isfile(src):
                self.module.fail_json(msg=f"{src} not found on the node")
            self.copy_file(src, dest, backup_dir)
            if not self.check:
                self.expect_digest(dest, sha256, "the installed file")
            return
        if os.path.isdir(src):
            for top, dirs, files in os.walk(src):
                dirs.sort()
                rel = os.path.relpath(top, src)
                target = os.path.normpath(os.path.join(dest, rel))
                self.directory(target)
                for name in sorted(files):
                    self.copy_file(os.path.join(top, name), os.path.join(target, name), backup_dir)
        elif os.path.isfile(src):
            self.copy_file(src, dest, backup_dir)
        else:
            self.module.fail_json(msg=f"{src} not found on the node")

    def expect_digest(self, path, sha256, what):
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError as err:
            self.module.fail_json(msg=f"{path} ({what}) cannot be read: {err}")
        if digest.hexdigest() != sha256.lower():
            self.module.fail_json(
                msg=f"{path} ({what}) has sha256 {digest.hexdigest()}, expected {sha256}",
                changes=self.changes,
            )

    def copy_file(self, src, dest, backup_dir):
        mode = stat.S_IMODE(os.stat(src).st_mode)
        exists = os.path.isfile(dest) and not os.path.islink(dest)
        if exists:
            same = filecmp.cmp(src, dest, shallow=False)
            if same and stat.S_IMODE(os.stat(dest).st_mode) == mode:
                return
            if not same and backup_dir:
                backup = os.path.join(backup_dir, os.path.basename(dest))
                if not os.path.exists(backup):
                    self.note(f"kept {dest} as {backup}")
                    if not self.check:
                        os.makedirs(backup_dir, 0o755, exist_ok=True)
                        shutil.copy2(dest, backup)
        self.note(f"copied {src} to {dest}")
        if self.check:
            return
        if not os.path.isdir(os.path.dirname(dest)):
            os.makedirs(os.path.dirname(dest), 0o755, exist_ok=True)
        with open(src, "rb") as handle:
            self.write(dest, handle.read(), mode)


def _mode(value, default):
    if value is None:
        return default
    return int(str(value), 8)


def main():
    module = AnsibleModule(
        argument_spec={
            "originals": {"type": "list", "elements": "dict", "default": []},
            "directories": {"type": "list", "elements": "path", "default": []},
            "links": {"type": "list", "elements": "dict", "default": []},
            "contents": {"type": "list", "elements": "dict", "default": []},
            "lines": {"type": "list", "elements": "dict", "default": []},
            "copies": {"type": "list", "elements": "dict", "default": []},
        },
        supports_check_mode=True,
    )
    batch = Batch(module)
    p = module.params
    try:
        for item in p["originals"]:
            batch.original(item["src"], item["dest"])
        for path in p["directories"]:
            batch.directory(path)
        for item in p["links"]:
            batch.link(item["dest"], item["src"])
        for item in p["contents"]:
            batch.content(item["dest"], item["content"], _mode(item.get("mode"), 0o644))
        for item in p["lines"]:
            batch.line(item["path"], item["regexp"], item["line"], item.get("missing", "skip"))
        for item in p["copies"]:
            batch.copy(item["src"], item["dest"], item.get("backup_dir"), item.get("sha256"))
    except (OSError, KeyError) as err:
        module.fail_json(msg=f"multiarc_files: {err}", changes=batch.changes)
    result = {"changed": bool(batch.changes), "changes": batch.changes}
    if module._diff and batch.diffs:
        result["diff"] = batch.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
