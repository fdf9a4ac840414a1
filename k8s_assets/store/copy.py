"""COPY of a frame's rows into a table: one COPY, and only if the database refuses it, row by row.

Values of the wrong type for their column become NULL; a row the database still refuses is
set aside (returned), so that one hostile object never blocks its kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.pq import Format

from k8s_assets.store.database import column_list, sql_template

# More refused objects than this is no longer a few hostile objects but a systematic problem
# (a bug, a schema out of date): fail the merge and say so instead of setting the kind aside.
MAX_REJECTED = 100


class RefusedRows(ValueError):
    """The database refused too many rows of one kind for them to be set aside one by one."""


def column_values(series: pd.Series) -> list:
    """Python values for COPY: NaN and NA become None (frames built by hand may carry them)."""
    if series.dtype == object:
        return series.tolist()
    return series.astype(object).where(series.notna(), None).tolist()


class Utf8TextDumper(Dumper):
    """Sends bytes as the text they already are (``raw`` holds UTF-8 JSON from orjson)."""

    format = Format.TEXT

    def dump(self, obj):
        return obj


# Errors about the values of one row: that object is set aside and the rest of the kind is
# written. Anything else (a missing cluster row, a lost connection) fails the whole merge.
# ProgramLimitExceeded: a value too large for an index entry (a 200 KB node name) refuses its row.
REFUSED_ROW_ERRORS = (psycopg.errors.DataError, psycopg.errors.NotNullViolation, psycopg.errors.CheckViolation,
                      psycopg.errors.ProgramLimitExceeded)


@dataclass(frozen=True)
class Rejection:
    position: int  # of the row in the frame given to copy_frame
    error: str


@dataclass
class Copied:
    """What copy_frame did with a frame's rows beyond writing them."""

    rejected: list[Rejection] = field(default_factory=list)
    # Positions of rows written with typed columns NULL whose values did not fit their SQL type.
    nulled: list[int] = field(default_factory=list)
    first_nulled: str | None = None  # "column: why", of the first such row


def copy_frame(cur, target: str, frame: pd.DataFrame, columns: Sequence[str],
               typed: Mapping[str, str] | None = None, max_rejected: int | None = MAX_REJECTED) -> Copied:
    """COPY a frame's rows into ``target``; rows the database refuses are set aside and returned.

    The whole frame goes in one COPY. Only if that fails is the frame looked at row by row: a
    value of a ``typed`` column (name -> SQL type: the kind's own columns, never the common ones)
    whose Python type does not fit the column (an object where a string belongs, "five" where an
    integer does) becomes NULL, and the frame is split in halves, each COPY under its own
    savepoint, down to the rows the database still refuses (a value of the right type out of its
    column's range: set aside, as documented). One bad object costs about two more passes over
    its kind, and never blocks the others. More than ``max_rejected`` refused rows (None: no
    bound) raise RefusedRows: in a listing that many say the error is systematic, not one object's.
    """
    # Only this cursor's COPY takes bytes as text; psycopg still escapes them for COPY.
    cur.adapters.register_dumper(bytes, Utf8TextDumper)
    statement = sql_template(
        "merge/copy_rows.sql",
        target=sql.Identifier(target),
        columns=column_list(columns),
    )
    rows = zip(*(column_values(frame[c]) for c in columns))
    try:
        with cur.connection.transaction():
            _copy_rows(cur, statement, rows)
        return Copied()
    except REFUSED_ROW_ERRORS:
        pass
    except psycopg.ProgrammingError as e:
        if not unsendable(e):
            raise
    copied = Copied()
    rows = [list(row) for row in zip(*(column_values(frame[c]) for c in columns))]
    fits = [(index, name, _FITS.get(sql_type, _fits_nothing)) for index, name in enumerate(columns)
            if (sql_type := (typed or {}).get(name)) is not None]
    for position, row in enumerate(rows):
        unfit = [f"{name}: {_json_kind(row[index])} does not fit {typed[name]}" for index, name, fit in fits
                 if row[index] is not None and not fit(row[index])]
        if unfit:
            for index, name, fit in fits:
                if row[index] is not None and not fit(row[index]):
                    row[index] = None
            _note_nulled(copied, position, "; ".join(unfit))
    pending = [(0, len(rows))]
    while pending:
        start, stop = pending.pop()
        try:
            with cur.connection.transaction():
                _copy_rows(cur, statement, rows[start:stop])
        except (*REFUSED_ROW_ERRORS, psycopg.ProgrammingError) as e:
            if isinstance(e, psycopg.ProgrammingError) and not unsendable(e):
                raise
            if stop - start > 1:
                middle = (start + stop) // 2
                pending += [(middle, stop), (start, middle)]
                continue
            copied.rejected.append(Rejection(start, refusal(e)))
            if max_rejected is not None and len(copied.rejected) > max_rejected:
                raise RefusedRows(f"{target}: the database refused more than {max_rejected} rows; the first: "
                                   f"{copied.rejected[0].error}") from e
    copied.nulled = sorted(set(copied.nulled) - {r.position for r in copied.rejected})
    return copied


def _copy_rows(cur, statement: sql.Composed, rows) -> None:
    with cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def unsendable(error: psycopg.ProgrammingError) -> bool:
    """Whether psycopg found no way to send a value (an object where text belongs): that row is
    refused like one the database refuses. Any other error of this class fails the merge."""
    return "cannot adapt" in str(error) or "cannot dump" in str(error)


def _note_nulled(copied: Copied, position: int, why: str) -> None:
    copied.nulled.append(position)
    if copied.first_nulled is None:
        copied.first_nulled = why[:500].replace("\x00", "\ufffd")


def _fits_text_array(value: Any) -> bool:
    return isinstance(value, list) and all(v is None or type(v) is str for v in value)


def _fits_integer(value: Any) -> bool:
    # Any size: an integer out of the column's range is the database's to refuse (the object is
    # then set aside, as a value out of range always was).
    return type(value) is int


def _fits_number(value: Any) -> bool:
    if type(value) is int:
        return True
    if isinstance(value, (float, Decimal)):
        return value.is_finite()
    return False


def _fits_nothing(value: Any) -> bool:
    return False


# What a Python value must be to be written to a typed column of each SQL type the catalog uses
# (decoding gives JSON values: text columns take strings, never an object's or a list's text).
_FITS: dict[str, Callable[[Any], bool]] = {
    "text": lambda value: type(value) is str,
    "jsonb": lambda value: type(value) is str,  # as_json's text
    "timestamptz": lambda value: type(value) is str,
    "uuid": lambda value: type(value) is str,
    "boolean": lambda value: type(value) is bool,
    "integer": _fits_integer,
    "bigint": _fits_integer,
    "numeric": _fits_number,
    "text[]": _fits_text_array,
}


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float, Decimal)) else type(value).__name__)


def refusal(error: psycopg.Error) -> str:
    """What PostgreSQL said about a refused row, without the row itself (COPY's context quotes it)."""
    diag = error.diag
    text = diag.message_primary or str(error).splitlines()[0]
    if diag.sqlstate:
        text = f"{text} (SQLSTATE {diag.sqlstate})"
    return text[:500]
