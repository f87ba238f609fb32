"""After-commit callbacks that never turn a committed change into an error response."""

from collections.abc import Callable
from typing import Any

from django.db import transaction


def on_commit_robust(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """``transaction.on_commit(robust=True)`` for ``fn(*args, **kwargs)``.

    Not ``functools.partial``: when a robust callback fails, Django logs it by ``__qualname__``,
    which a partial lacks, so the logging itself raised and the request answered 500 after its
    data had committed (found by the Redis-restart fault test)."""

    def callback() -> None:
        fn(*args, **kwargs)

    callback.__qualname__ = getattr(fn, "__qualname__", repr(fn))
    transaction.on_commit(callback, robust=True)
