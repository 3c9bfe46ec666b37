from __future__ import annotations

from multiarc.evaluation.parsers.xpu_smi import parse_discovery, parse_discovery_json, parse_dump
from parser_recordings import filled, recorded

BDFS = ["0000:18:00.0", "0000:1b:00.0", "0000:98:00.0", "0000:9b:00.0"]


def test_discovery_table() -> None:
    result = parse_discovery(recorded("b60x4", "xpu-smi-discovery.txt"))
    assert result.ok
    assert [d.device_id for d in result.records] == [0, 1, 2, 3]
    assert [d.bdf for d in result.records] == BDFS
    first = result.records[0]
    assert first.name == "Intel(R) Arc(TM) Pro B60 Graphics"
    assert first.vendor == "Intel(R) Corporation"
    assert first.uuid == "00000000-0000-0018-0000-0000e2118086"
    assert first.drm_device == "/dev/dri/card1"
    assert first.function_type == "physical"
    assert first.get("PCI BDF Address") == "0000:18:00.0"


def test_discovery_json_matches_table() -> None:
    table = parse_discovery(recorded("b60x4", "xpu-smi-discovery.txt"))
    js = parse_discovery_json(recorded("b60x4", "xpu-smi-discovery.json"))
    assert js.ok
    assert [(d.device_id, d.bdf, d.uuid, d.drm_device) for d in js.records] == [
        (d.device_id, d.bdf, d.uuid, d.drm_device) for d in table.records]
    assert {d.pci_device_id for d in js.records} == {"e211"}


def test_discovery_json_inside_noise_and_broken_entries() -> None:
    text = ('warning: something\n{"not": "it"}\n{"device_list": [{"device_id": 0, '
            '"pci_bdf_address": "0000:18:00.0"}, {"device_name": "no id"}, 7]}\ntrailer')
    result = parse_discovery_json(text)
    assert [d.bdf for d in result.records] == ["0000:18:00.0"]
    assert [p.message for p in result.problems] == [
        "device_list[1] has no integer device_id", "device_list[2] is not an object"]
    assert not parse_discovery_json('{"device_list": [').ok
    err = parse_discovery_json('{"error": "Level Zero Initialization Error", "errno": 2}')
    assert any("Level Zero Initialization Error" in p.message for p in err.problems)


def test_two_visible_discovery() -> None:
    result = parse_discovery(recorded("b60x4-two-visible", "xpu-smi-discovery.txt"))
    assert [d.bdf for d in result.records] == BDFS[:2]


def test_dump_values() -> None:
    result = parse_dump(recorded("b60x4", "xpu-smi-dump.txt"))
    assert result.ok
    assert [r.device_id for r in result.records] == [0, 1, 2, 3]
    row = result.records[0]
    assert row.timestamp == "17:02:10.417"
    assert row.tile_id is None
    assert row.value("GPU Power (W)") == 29.4
    assert row.value("GPU Frequency (MHz)") == 0.0
    assert row.value("GPU Memory Temperature (Celsius Degree)") is None  # N/A
    assert row.value("GPU Memory Used (MiB)") == 112.5
    assert row.as_dict()["PCIe Read (kB/s)"] == 14.0
    assert len(row.metrics) == 9


def test_dump_na_fields_are_none_not_problems() -> None:
    result = parse_dump(recorded("b60x4-na-fields", "xpu-smi-dump.txt"))
    assert result.ok
    row = result.records[2]
    assert row.value("GPU Utilization (%)") is None
    assert row.value("GPU Power (W)") is None
    assert row.value("PCIe Write (kB/s)") is None
    assert row.value("GPU Core Temperature (Celsius Degree)") == 40.0


def test_dump_errors_and_garbage() -> None:
    result = parse_dump("Error: Level Zero Initialization Error\n")
    assert "Level Zero Initialization Error" in result.problems[0].message
    bad = parse_dump(recorded("b60x4", "xpu-smi-dump.txt").replace("29.40", "2x.40"))
    assert len(bad.records) == 4
    assert "'2x.40'" in bad.problems[0].message


def test_discovery_inside_the_detail_log() -> None:
    from parser_recordings import detail_log

    result = parse_discovery(detail_log())
    assert [d.bdf for d in result.records] == BDFS
    assert len(parse_dump(detail_log()).records) == 4
    assert filled("{{d}}", d="3") == "3"


def test_config_frequency_range_and_power_limit() -> None:
    from multiarc.evaluation.parsers.xpu_smi import parse_config

    result = parse_config(filled(recorded("b60x4", "xpu-smi-config.txt"), d="2"))
    assert result.ok
    device, tile = result.records
    assert (device.device_id, device.tile_id, device.power_limit_w) == (2, None, 200.0)
    assert (tile.device_id, tile.tile_id) == (2, 0)
    assert (tile.min_frequency_mhz, tile.max_frequency_mhz) == (400.0, 2400.0)
    assert tile.frequency_options_mhz[0] == 400.0 and tile.frequency_options_mhz[-1] == 2400.0
    assert len(tile.frequency_options_mhz) == 41  # 400..2400 MHz in 50 MHz steps
    assert tile.standby_mode == "default"


def test_config_change_answers() -> None:
    from multiarc.evaluation.parsers.xpu_smi import parse_config, parse_config_change

    ok = parse_config_change(filled(recorded("b60x4", "xpu-smi-config-frequencyrange.txt"), d="1"))
    assert ok.ok and ok.records[0].succeeded
    assert "GPU 1 tile 0" in ok.records[0].message
    bad = parse_config_change(recorded("b60x4", "xpu-smi-config-nodevice.txt"))
    assert not bad.ok and not bad.records[0].succeeded
    assert not parse_config(recorded("b60x4", "xpu-smi-config-nodevice.txt")).ok
