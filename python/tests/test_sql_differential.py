"""``polars_adaptive.sql`` against Python Polars' ``SQLContext`` over ``pl.scan_parquet``:
the shapes of the differential suite written as SQL — generated data from Polars' and PyArrow's
writers, generated WHERE clauses (comparisons, BETWEEN, IN, IS NULL, LIKE, arithmetic,
AND/OR/NOT), then a projection, a count, global aggregates, a grouped count or a LIMIT. The
Flight SQL server runs the same front end (``test_flight.py`` checks its transport)."""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import polars as pl
import pytest
from hypothesis import given, settings
from test_differential import _values, _write, assert_stock_answer, datasets

import polars_adaptive as pa

# Python Polars 1.44.2's SQL casts date and timestamp literals with a cast it deprecates; the
# warning is the reference's, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Casting from String to Date:DeprecationWarning")


def literal(value: Any, dtype: pl.DataType) -> str | None:
    """``value`` as a SQL literal of ``dtype``, or None when SQL cannot write it."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return None
        # ISO 8601's `T`: Python Polars 1.44.2 reads no other form (2.x and the front end
        # also read a space, `test_sql.py` checks that).
        return f"CAST('{value.isoformat()}' AS TIMESTAMP)"
    if isinstance(value, dt.date):
        return f"CAST('{value.isoformat()}' AS DATE)"
    return None


@st.composite
def where(draw: st.DrawFn, df: pl.DataFrame, depth: int = 0) -> str:
    if depth < 2 and draw(st.integers(0, 3)) == 0:
        left, right = draw(where(df, depth + 1)), draw(where(df, depth + 1))
        op = draw(st.sampled_from(["AND", "OR", "NOT"]))
        return f"NOT ({left})" if op == "NOT" else f"({left}) {op} ({right})"
    name = draw(st.sampled_from(df.columns))
    dtype = df.schema[name]
    c = f'"{name}"'
    v = literal(_values(df, name, draw), dtype)
    w = literal(_values(df, name, draw), dtype)
    forms = [f"{c} IS NULL", f"{c} IS NOT NULL"]
    if v is not None:
        forms += [f"{c} = {v}", f"{c} <> {v}"]
        if w is not None:
            forms.append(f"{c} IN ({v}, {w})")
        if dtype != pl.Boolean:
            forms += [f"{c} < {v}", f"{c} <= {v}", f"{c} > {v}", f"{c} >= {v}"]
            if w is not None:
                forms.append(f"{c} BETWEEN {v} AND {w}")
    if dtype == pl.String and v is not None:
        prefix = v[1:-1][: draw(st.integers(0, 2))].replace("%", "").replace("_", "")
        forms.append(f"{c} LIKE '{prefix}%'")
    if dtype.is_integer() and not dtype.is_unsigned_integer():
        forms.append(f"{c} + 1 > {draw(st.integers(-100, 100))}")
    return draw(st.sampled_from(forms))


@st.composite
def statements(draw: st.DrawFn, df: pl.DataFrame) -> str:
    clause = draw(st.none() | where(df))
    filt = f" WHERE {clause}" if clause else ""
    name = f'"{draw(st.sampled_from(df.columns))}"'
    shape = draw(st.sampled_from(["all", "columns", "count", "aggregates", "grouped", "limit"]))
    if shape == "all":
        return f"SELECT * FROM t{filt}"
    if shape == "columns":
        cols = draw(st.lists(st.sampled_from(df.columns), min_size=1, unique=True))
        return "SELECT " + ", ".join(f'"{c}"' for c in cols) + f" FROM t{filt}"
    if shape == "count":
        return f"SELECT COUNT(*) AS n FROM t{filt}"
    if shape == "aggregates":
        return f"SELECT MIN({name}) AS lo, MAX({name}) AS hi, COUNT({name}) AS k FROM t{filt}"
    if shape == "grouped":
        return (
            f"SELECT {name}, COUNT(*) AS n FROM t{filt} GROUP BY {name} "
            f"ORDER BY {name} NULLS FIRST"
        )
    return f"SELECT * FROM t{filt} LIMIT {draw(st.integers(0, 20))}"


def stock_or_refused(
    query: str, paths: list[str], budget: int | None = None
) -> pl.DataFrame | None:
    """``pl.SQLContext``'s answer to ``query`` over table ``t`` of ``paths``; None when stock
    refuses it, after checking that ``pa.sql`` refuses it too."""
    try:
        return pl.SQLContext({"t": pl.scan_parquet(paths)}).execute(query).collect()
    except pl.exceptions.PolarsError:
        with pytest.raises(pl.exceptions.PolarsError):
            pa.sql(query, {"t": paths}, memory_budget=budget)
        return None


@settings(max_examples=200)
@given(data=st.data())
def test_sql_answers_equal_sqlcontext_over_scan_parquet(data: st.DataObject) -> None:
    df = data.draw(datasets(), label="data")
    writer = data.draw(st.sampled_from(["polars", "pyarrow"]), label="writer")
    files = data.draw(st.integers(1, 3), label="files")
    rows = data.draw(st.sampled_from([3, 10, 1000]), label="row_group_size")
    query = data.draw(statements(df), label="sql")
    budget = data.draw(st.sampled_from([None, 64 << 20]), label="memory_budget")
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write(df, Path(tmp), writer, files, rows)
        expected = stock_or_refused(query, paths, budget)
        if expected is None:
            return
        got = pa.sql(query, {"t": paths}, memory_budget=budget)
        assert_stock_answer(
            got,
            expected,
            lambda: pl.SQLContext({"t": pl.scan_parquet(paths)})
            .execute(query)
            .collect(optimizations=pl.QueryOptFlags(predicate_pushdown=False)),
        )
