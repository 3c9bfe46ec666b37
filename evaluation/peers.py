"""Peer-relative verdicts: each GPU and each GPU pair against the others of its kind.

On a host with several identical GPUs, a card that is far slower than its siblings is
broken or badly seated even when it passes a generous reference: one slow card must
never hide behind the reference. Figures are grouped by metric key and, for P2P, by the
class of the pair (topology.py); per-GPU figures (ze_peak, gemm) by key. Each figure is
compared with the median of its peers (the others of its group): more than the tolerance
below it (above, for latencies) is FAIL, "GPU 2 D2D float16 38 % below the median of its 3
peers". Pairs of a class the reference has no row for are judged against their peers
alone. Only keys the reference judges are compared (every size ze_peer prints would be
noise), and a group needs at least two members.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from multiarc.evaluation import metric_names as names
from multiarc.evaluation.model import Judgement, Status

NO_CLASS_REFERENCE = "no reference row for pairs {cls}: judged against its peers"


def _who(j: Judgement) -> str:
    devices = j.metric.devices
    if j.metric.category == names.P2P:
        return f"pair {devices}" + (f" ({j.group})" if j.group else "")
    return f"GPU {devices}"


def _what(j: Judgement) -> str:
    m = j.metric
    return " ".join(part for part in (m.subcategory, m.size) if part)


def _groups(judgements: Sequence[Judgement]) -> dict[tuple[object, ...], list[Judgement]]:
    groups: dict[tuple[object, ...], list[Judgement]] = {}
    for j in judgements:
        m = j.metric
        if not m.devices or "," in m.devices or j.verdict is Status.SKIP:
            continue
        if m.category == names.P2P and not j.group:
            continue  # without the pair's class, pairs are not comparable
        if j.reference is None and not j.by_peers:
            continue  # keys the reference does not judge
        groups.setdefault((m.category, m.subcategory, m.size, m.unit, j.group), []).append(j)
    return groups


def apply_peer_verdicts(judgements: Sequence[Judgement], tolerance: float) -> None:
    """Compare each judged figure with its peers; change verdicts and notes in place."""
    for members in _groups(judgements).values():
        if len(members) < 2:
            continue
        # a large group (many runs of one tool in a log): its median, self included
        whole = statistics.median(o.metric.value for o in members) if len(members) > 50 else None
        count = len(members) - 1
        for j in members:
            if whole is None:
                median = statistics.median(o.metric.value for o in members if o is not j)
            else:
                median = whole
            j.peer_median, j.peers = median, count
            value = j.metric.value
            if median <= 0 or value <= 0:
                continue
            lower = j.metric.unit in names.LOWER_IS_BETTER_UNITS
            score = median / value if lower else value / median
            off = abs(1 - value / median) * 100
            worse = "above" if lower else "below"
            unclassed = j.by_peers
            peers = f"{count} peer{'s' if count > 1 else ''}"
            if score < 1 - tolerance:
                note = (
                    f"{_who(j)} {_what(j)} {off:.0f} % {worse} the median of its {peers} "
                    f"({median:g} {j.metric.unit})"
                )
                j.verdict = Status.FAIL
                j.note = note if unclassed or not j.note else f"{note}; {j.note}"
            elif unclassed:
                j.verdict = Status.PASS
                j.note = (
                    f"{j.note}: within {off:.0f} % of the median of its {peers} "
                    f"({median:g} {j.metric.unit})"
                )
