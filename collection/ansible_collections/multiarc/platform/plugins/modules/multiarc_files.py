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

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.multiarc.platform.plugins.module_utils.file_batch import (  # noqa: E402
    Batch,
)


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
