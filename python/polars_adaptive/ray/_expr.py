"""Ray Data expressions (``ray.data.expressions``) as Polars expressions, where both filter
the same rows.

Ray evaluates a filter with PyArrow's kernels; once Ray pushes its filter into our read it
drops its own, so the Polars expression must keep exactly the rows PyArrow's would. Only the
shapes where the two agree are translated: column, literal, comparisons, Kleene and/or,
is_null/is_not_null, and is_in of a list without nulls outside any not, with boolean, integer
and string literals. Float columns are left out (PyArrow's NaN is unequal to itself and to
everything, Polars' NaN equals itself and is the largest value), and so is not_in (PyArrow
keeps a null there, Polars does not). Anything else gives ``None``: Ray keeps its filter.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa

_COMPARISONS = {
    "gt": lambda a, b: a > b,
    "lt": lambda a, b: a < b,
    "ge": lambda a, b: a >= b,
    "le": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
}
_SCALARS = (bool, int, str)


class _Untranslatable(Exception):
    pass


def to_polars(expr: Any, schema: pa.Schema) -> pl.Expr | None:
    """``expr`` over columns of ``schema`` as a Polars expression keeping the same rows, or
    ``None``."""
    try:
        return _Translator(schema).translate(expr, under_not=False)
    except _Untranslatable:
        return None


def _op(expr: Any) -> str:
    op = getattr(expr, "op", None)
    return getattr(op, "value", str(op))


def _literal(expr: Any) -> Any:
    value = getattr(expr, "value", _Untranslatable)
    if type(expr).__name__ != "LiteralExpr" or not isinstance(value, _SCALARS):
        raise _Untranslatable
    return value


class _Translator:
    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema

    def translate(self, expr: Any, *, under_not: bool) -> pl.Expr:
        return _translate(self, expr, under_not=under_not)

    def column(self, expr: Any) -> pl.Expr:
        if type(expr).__name__ != "ColumnExpr" or expr.name not in self.schema.names:
            raise _Untranslatable
        if pa.types.is_floating(self.schema.field(expr.name).type):
            raise _Untranslatable
        return pl.col(expr.name)


def _translate(t: _Translator, expr: Any, *, under_not: bool) -> pl.Expr:
    kind = type(expr).__name__
    if kind == "AliasExpr":
        return t.translate(expr.expr, under_not=under_not)
    if kind == "BinaryExpr":
        op = _op(expr)
        if op in ("and", "or"):
            left = t.translate(expr.left, under_not=under_not)
            right = t.translate(expr.right, under_not=under_not)
            return left & right if op == "and" else left | right
        if op in _COMPARISONS:
            return _comparison(t, op, expr.left, expr.right)
        if op == "in" and not under_not:
            values = getattr(expr.right, "value", None)
            if not isinstance(values, list) or not values:
                raise _Untranslatable
            if not all(isinstance(v, _SCALARS) for v in values):
                raise _Untranslatable
            return t.column(expr.left).is_in(values)
        raise _Untranslatable
    if kind == "UnaryExpr":
        op = _op(expr)
        if op == "not":
            return ~t.translate(expr.operand, under_not=True)
        if op == "is_null":
            return t.column(expr.operand).is_null()
        if op == "is_not_null":
            return t.column(expr.operand).is_not_null()
    raise _Untranslatable


def _comparison(t: _Translator, op: str, left: Any, right: Any) -> pl.Expr:
    compare = _COMPARISONS[op]
    if type(left).__name__ == "ColumnExpr":
        return compare(t.column(left), pl.lit(_literal(right)))
    return compare(pl.lit(_literal(left)), t.column(right))
