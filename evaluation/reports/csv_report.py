"""``benchmark_report.csv``: Intel's five columns first, in Intel's row order, then ours.

The first five columns are exactly what Intel's ``gen_evaluation_report.py`` writes
(``Category,Subcategory,Data/Packet Size,Measured (GB/s),Reference (GB/s)``; the measured
figure as Python prints a float, the reference as written in reference_perf.csv, empty when
there is none), so spreadsheets built on the original keep working. Then: ``Unit``,
``Ratio`` (measured / reference), ``% of Peak``, ``Verdict``, ``Devices``, ``Note``.
Reference rows the run has no figure for come last, with ``Measured`` empty and a FAIL
(its step ran and printed none) or SKIP (not part of the run) verdict.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from multiarc.evaluation.metric_names import ORIGINAL_REPORT_COLUMNS
from multiarc.evaluation.model import Judgement
from multiarc.evaluation.reference import Reference

from .run_report import MissingFigure

EXTRA_COLUMNS = ("Unit", "Ratio", "% of Peak", "Verdict", "Devices", "Note")
COLUMNS = (*ORIGINAL_REPORT_COLUMNS, *EXTRA_COLUMNS)


def _reference_text(judgement: Judgement, reference: Reference | None) -> str:
    if judgement.reference is None:
        return ""
    entry = reference.get(judgement.metric.key) if reference is not None else None
    return entry.text if entry is not None else f"{judgement.reference:g}"


def csv_rows(
    judgements: Iterable[Judgement],
    reference: Reference | None = None,
    missing: Iterable[MissingFigure] = (),
) -> Iterable[list[str]]:
    yield list(COLUMNS)
    ref_texts: dict[tuple[tuple[str, str, str], float | None], str] = {}  # per key, not per row
    for j in judgements:
        m = j.metric
        ref_key = (m.key, j.reference)
        ref_text = ref_texts.get(ref_key)
        if ref_text is None:
            ref_text = ref_texts[ref_key] = _reference_text(j, reference)
        yield [
            m.category,
            m.subcategory,
            m.size,
            str(m.value),
            ref_text,
            m.unit,
            "" if j.ratio is None else f"{j.ratio:.3f}",
            "" if j.pct_of_peak is None else f"{j.pct_of_peak:.1f}",
            str(j.verdict),
            m.devices,
            j.note,
        ]
    for f in missing:  # reference rows the run has no figure for: Measured left empty
        yield [f.category, f.subcategory, f.size, "", f.reference_text, f.unit, "", "",
               str(f.verdict), "", f.note]


def render_csv(
    judgements: Iterable[Judgement],
    reference: Reference | None = None,
    missing: Iterable[MissingFigure] = (),
) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(csv_rows(judgements, reference, missing))
    return buffer.getvalue()


def write_csv(
    path: Path,
    judgements: Iterable[Judgement],
    reference: Reference | None = None,
    missing: Iterable[MissingFigure] = (),
) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(csv_rows(judgements, reference, missing))
    return path
