"""Pausing Python's cyclic garbage collector while a phase builds a large, acyclic structure.

Parsing, transforming, checking and rendering a flow allocate millions of objects (lark
tokens and trees, IR nodes, view models) that are freed by reference counting; none of it
is cyclic garbage. A full collection walks every live object, so with the collector on a
50,000-step flow spent more time in it than in the work (parse + transform 12.9 s instead
of 4.6 s; bench/bench_scale.py), and the cost grew faster than the flow. Pausing it per
phase keeps each phase linear; cycles made meanwhile are collected once it runs again.
"""

from __future__ import annotations

import functools
import gc
from contextlib import contextmanager


@contextmanager
def paused():
    """No cyclic collection inside the block (restores the previous state; nests)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def gc_paused(fn):
    """Decorator form of `paused()`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with paused():
            return fn(*args, **kwargs)

    return wrapper
