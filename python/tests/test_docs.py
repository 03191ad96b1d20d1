"""The package's docstring examples hold: they run as doctests against the installed wheel
(examples that need data or a cluster the suite does not have are marked ``+SKIP``)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "polars_adaptive",
    "polars_adaptive._scan",
    "polars_adaptive._sql",
    "polars_adaptive._splits",
    "polars_adaptive._readers",
    "polars_adaptive._sample",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} examples of {name} fail"
