"""Secret spellings the other tests do not name: a Python dict's repr (an evaluation's
results and logs print configs that way) and ``*_PWD`` settings (MYSQL_PWD, db_pwd)."""

from __future__ import annotations

import pytest
from multiarc.collect import secrets as sec


@pytest.mark.parametrize(
    "text",
    [
        "config: {'password': 'Hunter2Leak', 'lr': 0.1}",
        "{'api_key': 'Hunter2Leak'}",
        "{'HF_TOKEN': \"Hunter2Leak\"}",
        "MYSQL_PWD=Hunter2Leak",
        "db_pwd: Hunter2Leak",
    ],
)
def test_unnamed_spellings_are_removed(text: str) -> None:
    found = sec.Findings()
    clean = sec.scrub(text, "f", found)
    assert "Hunter2Leak" not in clean
    assert found.as_list()


def test_pwd_and_oldpwd_are_kept() -> None:
    assert sec.scrub("PWD=/home/u\nOLDPWD=/tmp", "f", sec.Findings()) == "PWD=/home/u\nOLDPWD=/tmp"


def test_pwd_passes_the_prefilter_in_long_texts() -> None:
    text = "x" * 5000 + "\nMYSQL_PWD=Hunter2Leak\n"
    assert sec.may_hold_secrets(text.encode())
    assert "Hunter2Leak" not in sec.scrub(text, "f", sec.Findings())
