"""The Python half of the predicate bridge.

A predicate crosses to Rust as Python Polars' JSON form (``Expr.meta.serialize(format="json")``),
never in Polars' binary format, which changes with every release. The Rust parser reads the
shapes it knows and reports whether it understood the whole predicate; when it did not, every
batch is filtered here with the whole predicate (the "residual"), so an unknown shape costs
speed, never rows.

One shape needs help first: ``is_in``'s list is written as Arrow IPC bytes. It is decoded here
(with Polars itself) into ``{"AdaptiveValues": {"dtype": ..., "values": [...]}}``; lists of
other dtypes, or holding NaN or infinities, are left as they are (so: not understood).
"""

from __future__ import annotations

import io
import json
import math
from typing import Any, NamedTuple

import polars as pl

from polars_adaptive import _native

_LIST_DTYPES = {
    pl.Boolean: "Boolean",
    pl.Int8: "Int8",
    pl.Int16: "Int16",
    pl.Int32: "Int32",
    pl.Int64: "Int64",
    pl.UInt8: "UInt8",
    pl.UInt16: "UInt16",
    pl.UInt32: "UInt32",
    pl.UInt64: "UInt64",
    pl.Float32: "Float32",
    pl.Float64: "Float64",
    pl.String: "String",
}


class PushedPredicate(NamedTuple):
    """What crosses to Rust for a read, and what stays in Python."""

    json: str | None
    """The predicate for the Rust parser (``None``: nothing to push)."""
    residual: pl.Expr | None
    """The whole predicate, when Python must filter every batch with it."""
    columns: list[str] | None
    """The columns to read: the projection, widened by the residual's columns."""


def push(predicate: pl.Expr | None, columns: list[str] | None) -> PushedPredicate:
    """Splits a read's predicate between Rust and Python (see the module's docstring)."""
    if predicate is None:
        return PushedPredicate(None, None, columns)
    text = predicate_json(predicate)
    if text is not None and _native.pushed_predicate(text)[1]:
        return PushedPredicate(text, None, columns)
    if columns is not None:
        needed = dict.fromkeys(predicate.meta.root_names())
        columns = list(columns) + [c for c in needed if c not in columns]
    return PushedPredicate(text, predicate, columns)


def predicate_json(predicate: pl.Expr) -> str | None:
    """The predicate as JSON for the Rust parser, or ``None`` if Polars cannot write it."""
    try:
        tree = json.loads(predicate.meta.serialize(format="json"))
    except Exception:  # noqa: BLE001 - any failure only means "not pushed"
        return None
    return json.dumps(_normalize(tree), allow_nan=False)


def _normalize(node: Any) -> Any:
    if isinstance(node, list):
        return [_normalize(n) for n in node]
    if not isinstance(node, dict):
        return node
    function = node.get("Function")
    if isinstance(function, dict) and len(node) == 1:
        kind = function.get("function")
        inputs = function.get("input")
        if (
            isinstance(kind, dict)
            and isinstance(kind.get("Boolean"), dict)
            and "IsIn" in kind["Boolean"]
            and isinstance(inputs, list)
            and len(inputs) == 2
        ):
            values = _decoded_list(inputs[1])
            if values is not None:
                return {
                    "Function": {
                        "input": [_normalize(inputs[0]), values],
                        "function": kind,
                    }
                }
    return {k: _normalize(v) for k, v in node.items()}


def _decoded_list(node: Any) -> dict[str, Any] | None:
    try:
        raw = node["Literal"]["Scalar"]["List"]
        frame = pl.read_ipc_stream(io.BytesIO(bytes(raw)))
    except Exception:  # noqa: BLE001 - an unknown shape stays unknown
        return None
    if frame.width != 1:
        return None
    series = frame.to_series()
    name = _LIST_DTYPES.get(series.dtype.base_type())  # type: ignore[call-overload]
    if name is None:
        return None
    values = series.to_list()
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        return None
    return {"AdaptiveValues": {"dtype": name, "values": values}}
