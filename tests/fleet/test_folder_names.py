"""Inventory names become folder names on the controller: safe, and one folder per host."""

from __future__ import annotations

from multiarc import fleet


def test_names_are_safe_and_unique() -> None:
    hosts = ["node1", "rack/a", "rack_a", "RACK_A", "..", "../etc", "a b", "x" * 300]
    names = fleet.folder_names(hosts)
    assert list(names) == hosts
    assert names["node1"] == "node1"
    assert names["rack/a"] == "rack_a" and names["rack_a"] == "rack_a-2"
    assert names["RACK_A"] == "RACK_A-3"  # apart on a case-insensitive filesystem too
    assert len({n.lower() for n in names.values()}) == len(hosts)
    for name in names.values():
        assert "/" not in name and name.strip(".") and len(name) <= 130
