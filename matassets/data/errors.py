"""The one error every loader raises when a whole input file cannot be used."""

from __future__ import annotations

from pathlib import Path


class DataInputError(ValueError):
    """An input file the user must fix: names the file and, where known, the row and the field.

    ``str()`` is one line, e.g. ``data/x.csv row 7 field 'band_gap': not a number ('abc')``.
    Rows of a CSV are counted as a spreadsheet shows them (the header, if any, is row 1); records
    of a JSON list are counted from 0, the way ``origin`` names them.
    """

    def __init__(
        self,
        file: str | Path,
        reason: str,
        *,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = str(file)
        self.row = row
        self.field = field
        self.reason = " ".join(str(reason).split())  # always one line
        super().__init__(self._message())

    def _message(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" row {self.row}"
        if self.field is not None:
            where += f" field {self.field!r}"
        return f"{where}: {self.reason}"

    def __str__(self) -> str:
        return self._message()

    def __reduce__(self):  # keep it picklable (Dagster ships errors between processes)
        return (_rebuild, (self.file, self.reason, self.row, self.field))


def _rebuild(file: str, reason: str, row: int | None, field: str | None) -> DataInputError:
    return DataInputError(file, reason, row=row, field=field)
