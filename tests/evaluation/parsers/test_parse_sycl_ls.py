from __future__ import annotations

from multiarc.evaluation.parsers.sycl_ls import count_level_zero_gpus, parse_sycl_ls
from parser_recordings import recorded


def test_b60x4_lists_four_level_zero_gpus_and_their_driver() -> None:
    result = parse_sycl_ls(recorded("b60x4", "sycl-ls.txt"))
    assert result.ok
    gpus = [d for d in result.records if d.is_level_zero_gpu]
    assert [d.index for d in gpus] == [0, 1, 2, 3]
    assert {d.name for d in gpus} == {"Intel(R) Arc(TM) Pro B60 Graphics"}
    assert {d.driver_version for d in gpus} == {"1.6.33578+15"}
    assert gpus[0].platform == "Intel(R) oneAPI Unified Runtime over Level-Zero"
    assert gpus[0].version == "20.1.0"
    assert count_level_zero_gpus(result.records) == 4


def test_opencl_lines_are_read_but_not_counted() -> None:
    result = parse_sycl_ls(recorded("b60x4", "sycl-ls.txt"))
    cpu = next(d for d in result.records if d.device_type == "cpu")
    assert cpu.backend == "opencl"
    assert cpu.version == "OpenCL 3.0 (Build 0)"
    assert cpu.driver_version == "2025.19.4.0.18_160000"
    ocl_gpu = next(d for d in result.records if d.backend == "opencl" and d.device_type == "gpu")
    assert ocl_gpu.version == "OpenCL 3.0 NEO"
    assert ocl_gpu.driver_version == "25.18.33578"


def test_two_visible_host_counts_two() -> None:
    result = parse_sycl_ls(recorded("b60x4-two-visible", "sycl-ls.txt"))
    assert count_level_zero_gpus(result.records) == 2


def test_device_id_in_name_and_old_format() -> None:
    text = (
        "[level_zero:gpu][level_zero:0] Intel(R) oneAPI Unified Runtime over Level-Zero, "
        "Intel(R) Graphics [0xe211] 20.1.0 [1.6.33944+12]\n"
        "[ext_oneapi_level_zero:gpu:1] Intel(R) Level-Zero, Intel(R) Arc(TM) Pro B60 Graphics "
        "1.6 [1.6.33578]\n"
    )
    result = parse_sycl_ls(text)
    assert result.ok
    assert result.records[0].name == "Intel(R) Graphics [0xe211]"
    assert result.records[1].backend == "level_zero"
    assert result.records[1].index == 1
    assert count_level_zero_gpus(result.records) == 2


def test_found_inside_noise_and_problems_reported() -> None:
    text = "noise\n" + recorded("b60x2", "sycl-ls.txt") + "[level_zero:gpu][level_zero:9] broken\n"
    result = parse_sycl_ls(text)
    assert count_level_zero_gpus(result.records) == 2
    assert not result.ok
    assert "unreadable device line" in result.problems[0].message
    assert result.problems[0].line == 7


def test_no_devices_is_a_problem() -> None:
    result = parse_sycl_ls("No platforms found.\n")
    assert result.records == []
    assert [p.message for p in result.problems] == ["no SYCL devices listed"]
