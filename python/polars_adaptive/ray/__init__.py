"""polars-adaptive past one machine: a Ray Data source and SQL run split by split on Ray.

``read_adaptive`` reads Parquet into a ``ray.data.Dataset`` with one read task per split
(:func:`polars_adaptive.plan_splits`): row groups pruned by statistics at planning, then bloom
filters, page index and filter-first decode inside each task. ``sql`` runs a statement's plan
on every split as a task (the streaming aggregation's partial state, a top-k, the first rows
of a ``LIMIT``, or rows) and merges the partial answers on the driver, or through Ray's
shuffle when the groups are many.

Requires Ray (``pip install "ray[data]"``); the rest of ``polars_adaptive`` does not.
"""

from polars_adaptive.ray._datasource import AdaptiveDatasource, read_adaptive
from polars_adaptive.ray._sql import sql

__all__ = ["AdaptiveDatasource", "read_adaptive", "sql"]
