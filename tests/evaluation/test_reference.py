"""reference_perf.csv loading: Intel's recorded file, and every malformed case with its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from multiarc.evaluation.reference import canonical_key, load_reference, parse_reference

from multiarc.errors import ExitCode, InputError

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
HEADER = "Category,Subcategory,Data/Packet Size,Reference\n"


def test_intels_recorded_reference_loads_with_its_text() -> None:
    ref = load_reference(RECORDINGS / "b60x4" / "reference_perf.csv")
    assert len(ref) == 16
    entry = ref.get(("p2p", "Unidirectional Write", "128 MB"))
    assert entry is not None and entry.value == 24.0 and entry.text == "24" and entry.line == 2
    assert ref.get(("GPU memory bandwidth", "D2D", "float16")).value == 395.0  # type: ignore[union-attr]
    assert ref.get(("1ccl", "allreduce", "128MB")).text == "12.5"  # type: ignore[union-attr]
    assert ref.get(("p2p", "Unidirectional Write", "64 MB")) is None


@pytest.mark.parametrize(
    "asked",
    [
        ("p2p", "Unidirectional Write", "128MB"),
        ("p2p", "unidirectional write", "128 mb"),
        (" p2p ", "Unidirectional  Write", "128  MB"),
        ("1ccl", "allreduce", "128 MB"),
    ],
)
def test_size_and_case_variants_find_the_row(asked: tuple[str, str, str]) -> None:
    ref = parse_reference(
        HEADER + "p2p,Unidirectional Write,128 MB,24\n1ccl,allreduce,128MB,12.5\n"
    )
    assert ref.get(asked) is not None
    assert canonical_key(("p2p", "Unidirectional Write", "128 MB")) == (
        "p2p",
        "unidirectionalwrite",
        "128mb",
    )


def test_columns_in_any_order_bom_crlf_and_blank_lines() -> None:
    text = (
        "\ufeffReference,Data/Packet Size,Category,Subcategory,Comment\r\n\r\n9.5,,gemm,int8,x\r\n"
    )
    ref = parse_reference(text, "r.csv")
    assert ref.get(("gemm", "int8", "")).value == 9.5  # type: ignore[union-attr]


def _error(tmp_path: Path, content: bytes | str) -> InputError:
    path = tmp_path / "reference_perf.csv"
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_reference(path)
    assert info.value.exit_code == ExitCode.USAGE
    assert str(path) in info.value.message
    assert info.value.hint
    return info.value


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ("\n  \n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "is binary"),
        (b"Category,Subcategory\n\xff\xfe\xfa,1\n", ":2: is not UTF-8"),
        (
            "Category,Subcategory,Reference\np2p,x,1\n",
            ":1: header lacks column(s) Data/Packet Size",
        ),
        (HEADER, ":1: has a header but no reference rows"),
        (HEADER + "p2p,Unidirectional Write,128 MB,24\ngemm,int8,,fast\n", ":3: Reference 'fast'"),
        (HEADER + "gemm,int8,,\n", ":2: Reference ''"),
        (HEADER + "gemm,int8,,-3\n", "not a positive number"),
        (HEADER + "gemm,int8,,nan\n", "not a positive number"),
        (HEADER + "gemm,int8\n", ":2: 2 field(s), expected at least 4"),
        (
            HEADER + "p2p,Unidirectional Write,128 MB,24\n\np2p,Unidirectional Write,128MB,25\n",
            ":4: duplicate key ('p2p', 'Unidirectional Write', '128MB') (same as line 2",
        ),
        (HEADER + 'gemm,int8,"unterminated,1\n', "not valid CSV"),
    ],
)
def test_malformed_reference_names_file_line_and_problem(
    tmp_path: Path, content: bytes | str, expected: str
) -> None:
    err = _error(tmp_path, content)
    assert expected in err.message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_reference(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a directory"):
        load_reference(tmp_path)
