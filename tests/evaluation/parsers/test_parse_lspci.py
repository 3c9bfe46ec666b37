from __future__ import annotations

from multiarc.evaluation.parsers.lspci import parse_lspci_nn, parse_lspci_vvv, supported_gpus
from parser_recordings import recorded

GIB = 1024**3
GPU_BDFS = ["0000:18:00.0", "0000:1b:00.0", "0000:98:00.0", "0000:9b:00.0"]


def test_nn_lines_and_supported_gpus() -> None:
    result = parse_lspci_nn(recorded("b60x4", "lspci-nn-D.txt"))
    assert result.ok
    gpus = supported_gpus(result.records)
    assert [g.bdf for g in gpus] == GPU_BDFS
    assert {(g.vendor_id, g.device_id, g.class_id) for g in gpus} == {("8086", "e211", "0300")}
    aspeed = next(d for d in result.records if d.vendor_id == "1a03" and d.device_id == "2000")
    assert aspeed.is_display and not aspeed.is_supported_gpu  # a BMC VGA is not a GPU we test
    assert aspeed.rev == "52"
    bridge = next(d for d in result.records if d.bdf == "0000:16:00.0")
    assert bridge.class_id == "0604"
    assert bridge.name == "Broadcom / LSI PEX890xx PCIe Gen 5 Switch"


def test_nn_without_domain_gets_domain_zero() -> None:
    result = parse_lspci_nn(recorded("b60x4", "lspci-nn.txt"))
    assert [g.bdf for g in supported_gpus(result.records)] == GPU_BDFS


def test_two_visible_host_still_shows_four_on_the_bus() -> None:
    result = parse_lspci_nn(recorded("b60x4-two-visible", "lspci-nn-D.txt"))
    assert len(supported_gpus(result.records)) == 4


def test_vvv_links_bars_and_driver() -> None:
    result = parse_lspci_vvv(recorded("b60x4", "lspci-D-nn-vvv.txt"))
    assert result.ok
    by_bdf = {d.bdf: d for d in result.records}
    gpus = [by_bdf[b] for b in GPU_BDFS]
    assert all(g.is_supported_gpu() for g in gpus)
    assert [(g.link_cap_speed_gts, g.link_cap_width) for g in gpus] == [(32.0, 8)] * 4
    assert [(g.link_sta_speed_gts, g.link_sta_width) for g in gpus] == [
        (32.0, 8), (2.5, 8), (32.0, 8), (2.5, 8)]
    assert [g.link_downgraded for g in gpus] == [False, True, False, True]
    assert gpus[1].link_sta_speed_note == "downgraded"
    assert {g.driver for g in gpus} == {"xe"}
    assert gpus[0].modules == ("xe",)
    assert gpus[0].largest_bar_bytes == 32 * GIB
    bar2 = next(r for r in gpus[0].regions if r.index == 2)
    assert bar2.prefetchable and bar2.is_64bit and bar2.size_bytes == 32 * GIB
    bar0 = next(r for r in gpus[0].regions if r.index == 0)
    assert not bar0.prefetchable and bar0.size_bytes == 16 * 1024**2
    assert gpus[0].rebar_current_bytes == ((2, 32 * GIB),)
    assert by_bdf["0000:03:00.0"].driver == "ast"
    assert not by_bdf["0000:03:00.0"].is_supported_gpu()


def test_vvv_plain_header_without_ids() -> None:
    result = parse_lspci_vvv(recorded("b60x4", "lspci-vvv.txt"))
    assert result.ok
    gpus = [d for d in result.records if d.is_supported_gpu()]
    assert [g.bdf for g in gpus] == GPU_BDFS
    assert gpus[0].vendor_id is None and gpus[0].class_name == "VGA compatible controller"
    assert [g.link_sta_speed_gts for g in gpus] == [32.0, 2.5, 32.0, 2.5]


def test_vvv_overdriven_and_unreadable_link() -> None:
    text = (
        "0000:18:00.0 VGA compatible controller [0300]: Intel Corporation Device [8086:e211]\n"
        "\t\tLnkCap:\tPort #0, Speed 16GT/s, Width x8, ASPM L1\n"
        "\t\tLnkSta:\tSpeed 32GT/s (overdriven), Width x4 (downgraded)\n"
        "\t\tLnkCap:\tgarbage\n"
    )
    result = parse_lspci_vvv(text)
    (gpu,) = result.records
    assert gpu.link_sta_speed_note == "overdriven"
    assert gpu.link_sta_width_note == "downgraded"
    assert gpu.link_downgraded
    assert [p.line for p in result.problems] == [4]


def test_nothing_found_is_a_problem() -> None:
    assert not parse_lspci_nn("pcilib: Cannot open /proc/bus/pci\n").ok
    assert not parse_lspci_vvv("").ok


def test_vvv_without_root_hides_the_link() -> None:
    text = (
        "03:00.0 VGA compatible controller: Intel Corporation Device e211 "
        "(prog-if 00 [VGA controller])\n"
        "\tRegion 2: Memory at 4000000000 (64-bit, prefetchable) [size=32G]\n"
        "\tCapabilities: <access denied>\n"
        "\tKernel driver in use: xe\n"
    )
    (gpu,) = parse_lspci_vvv(text).records
    assert gpu.capabilities_hidden and gpu.is_supported_gpu()
    assert gpu.link_sta_speed_gts is None and gpu.largest_bar_bytes == 32 * GIB
