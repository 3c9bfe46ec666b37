"""A serving reference: ``serve_reference.csv`` with the columns
``model,gpus,input_len,output_len,batch_size,tokens_per_s``. The rows of the model, input
and output lengths of the run give each batch size its reference output tokens/s (an empty
model or gpus cell matches any)."""

from __future__ import annotations

import csv
from pathlib import Path

from multiarc.errors import InputError

COLUMNS = ("model", "gpus", "input_len", "output_len", "batch_size", "tokens_per_s")


def load(path: Path, model: str, input_len: int, output_len: int,
         gpus: int | None = None) -> dict[int, float]:
    hint = f"give a CSV with the columns {','.join(COLUMNS)}"
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(f"--reference {path}: {exc.strerror}", hint) from None
    if rows and not set(COLUMNS) <= set(rows[0]):
        raise InputError(f"--reference {path}: missing columns "
                         f"{', '.join(sorted(set(COLUMNS) - set(rows[0])))}", hint)
    found: dict[int, float] = {}
    for number, row in enumerate(rows, 2):
        try:
            if row["model"] and row["model"] != model:
                continue
            if row["gpus"] and gpus is not None and int(row["gpus"]) != gpus:
                continue
            if int(row["input_len"]) != input_len or int(row["output_len"]) != output_len:
                continue
            found[int(row["batch_size"])] = float(row["tokens_per_s"])
        except (TypeError, ValueError):
            raise InputError(f"--reference {path} line {number}: not numbers where numbers "
                             "belong", hint) from None
    return found
