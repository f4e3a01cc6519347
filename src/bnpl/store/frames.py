"""A query's rows as a pandas DataFrame, for the set-based batch jobs (features, training tables,
the merchant graph). Kept out of the checkout path: pandas is only imported where it is used."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection


def read_frame(conn: Connection, query: Any) -> pd.DataFrame:
    """Built column by column: handing pandas the Row objects themselves makes it probe every row
    for namedtuple fields, which took about half of a graph refresh."""
    result = conn.execute(query)
    keys = list(result.keys())
    columns = list(zip(*result.all(), strict=True)) or [()] * len(keys)
    return pd.DataFrame(dict(zip(keys, columns, strict=True)))


def as_date(value: Any) -> date:
    """A date from a query: SQLite hands aggregates of dates (MIN, MAX) back as text."""
    return date.fromisoformat(value) if isinstance(value, str) else value
