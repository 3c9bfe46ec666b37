from __future__ import annotations

from multiarc.evaluation.parsers.gemm import parse_gemm
from parser_recordings import recorded


def test_int8_on_device_0() -> None:
    result = parse_gemm(recorded("b60x4", "matrix_mul_mkl-int8-c0.txt"))
    assert result.ok
    (run,) = result.records
    assert (run.precision, run.m, run.n, run.k) == ("int8", 40960, 40960, 40960)
    assert run.tera_ops == 141.472
    assert run.printed == "141.472TF"
    assert run.device_index == 0
    assert run.device_name == "Intel(R) Arc(TM) Pro B60 Graphics"


def test_device_index_from_running_on_line() -> None:
    (run,) = parse_gemm(recorded("b60x4", "matrix_mul_mkl-int8-c2.txt")).records
    assert run.device_index == 2 and run.tera_ops == 142.105


def test_every_precision_and_prefix() -> None:
    text = (
        "Running on device: 1\n"
        "Benchmarking (4096 x 4096) x (4096 x 4096) matrix multiplication, half precision\n"
        "gemm Passes for type: half precision!\n\nAverage performance: 95.1TF\n"
        "Benchmarking (4096 x 4096) x (4096 x 4096) matrix multiplication, single precision\n"
        "Average performance: 950.5GF\n"
        "Benchmarking (1024 x 1024) x (1024 x 1024) matrix multiplication, fp32_vec\n"
        "Average performance: 1.5PF\n"
    )
    result = parse_gemm(text)
    assert result.ok
    assert [(r.precision, r.tera_ops) for r in result.records] == [
        ("half", 95.1), ("single", 0.9505), ("fp32_vec", 1500.0)]


def test_crash_failure_and_missing_device() -> None:
    crashed = parse_gemm(recorded("b60x4-faults", "matrix_mul_mkl-int8-c0-crash.txt"))
    assert crashed.records == []
    assert "ended without a result" in crashed.problems[0].message
    failed = parse_gemm("Benchmarking (8 x 8) x (8 x 8) matrix multiplication, int8 precision\n"
                        "gemm FAILS for type: int8 precision on 3 times run!\n")
    assert "verification failed" in failed.problems[0].message
    missing = parse_gemm(recorded("b60x4", "matrix_mul_mkl-no-such-device.txt"))
    assert missing.records == [] and missing.problems


def test_unknown_precision_is_not_a_result() -> None:
    text = recorded("b60x4", "matrix_mul_mkl-int8-c0.txt").replace(
        "matrix multiplication, int8 precision", "matrix multiplication, i")
    result = parse_gemm(text)
    assert result.records == []
    assert "unknown precision" in result.problems[0].message
