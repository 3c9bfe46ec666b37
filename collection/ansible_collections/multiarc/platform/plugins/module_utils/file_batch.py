"""Idempotent file changes on a node, shared by the collection's modules.

A module that makes several small file changes (multiarc_files, and the modules that also
write a file or two in the same run: multiarc_bundle_unpack, multiarc_boot_trial,
multiarc_grub_cmdline) notes each change, makes it atomically (a temporary file in the same
folder, then rename) and only when needed, and makes none in check mode.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import re
import shutil
import stat
import tempfile


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
