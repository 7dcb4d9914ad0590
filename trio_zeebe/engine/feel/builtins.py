"""Loads every module of built-in functions so that they register themselves."""

from . import fn_collections, fn_conversion, fn_numeric, fn_string

__all__ = ["fn_collections", "fn_conversion", "fn_numeric", "fn_string"]
