"""--map naming another user's file is refused when read, before any work is done (its
tokens are not trusted, and it could not be replaced at the end anyway)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from multiarc.collect.redact import load_mapping

from multiarc.errors import InputError


def test_another_users_map_is_refused_up_front(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file to another user")
    planted = tmp_path / "host.map"
    planted.write_text(json.dumps({"host-1": "attacker.example"}))
    os.chown(planted, 65534, 65534)
    with pytest.raises(InputError, match="not a regular file of yours"):
        load_mapping(planted)
