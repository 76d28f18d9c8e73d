"""Fast pickling of frozen slotted attrs classes: a tuple of values, restored in C.

A parsed file crosses from the parse worker to the commit stage as a pickle
(``actors/processor.py``).  attrs pickles a slotted class through Python-level
``__getstate__`` (a dict comprehension) and ``__setstate__`` (one frozen-safe
``setattr`` per field), tens of microseconds per listing on each side.
:func:`fast_pickle` gives a class a ``__reduce__`` that takes all its slots at
once (``operator.attrgetter``) and a restorer that writes them straight into a
new instance's slots (the slot descriptors, called by ``map`` in C), without
``__init__``: the instance comes back exactly as it was pickled, derived
(``init=False``) fields included, except those named in ``reset``, which get
their default.
"""

from __future__ import annotations

import collections
import itertools
import operator
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs

if TYPE_CHECKING:
    from attrs import AttrsInstance

__all__ = ["fast_pickle"]

T = TypeVar("T")

_set_slot = types.MemberDescriptorType.__set__


def _restore(cls: type[Any], values: tuple[Any, ...]) -> Any:
    """A new ``cls`` instance with its slots set to ``values`` (see :func:`fast_pickle`)."""
    obj = object.__new__(cls)
    collections.deque(map(_set_slot, cls.__fast_pickle_slots__, itertools.repeat(obj), values), 0)
    return obj


def fast_pickle(*, reset: tuple[str, ...] = ()) -> Callable[[type[T]], type[T]]:
    """Class decorator (outside ``@attrs.frozen``): pickle as :func:`_restore` of a tuple.

    ``reset``: fields not carried (e.g. a memo that holds objects the other process
    cannot use); they are restored with their attrs default, which must be a plain
    value (not a factory).
    """

    def decorate(cls: type[T]) -> type[T]:
        fields = attrs.fields(cast("type[AttrsInstance]", cls))
        for name in reset:
            default = getattr(fields, name).default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                raise TypeError(f"{cls.__name__}.{name}: a reset field needs a plain default")
        carried = tuple(f.name for f in fields if f.name not in reset)
        slots = []
        for name in (*carried, *reset):  # the values: the carried ones, then the defaults
            descriptor = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
            if not isinstance(descriptor, types.MemberDescriptorType):
                raise TypeError(f"{cls.__name__}.{name} is not a slot")
            slots.append(descriptor)
        tail = tuple(getattr(fields, name).default for name in reset)
        get = operator.attrgetter(*carried)
        one = len(carried) == 1

        def __reduce__(self: T) -> tuple[Callable[..., Any], tuple[Any, ...]]:
            values = get(self)
            if one:
                values = (values,)
            return _restore, (cls, values + tail if tail else values)

        cls.__fast_pickle_slots__ = tuple(slots)  # type: ignore[attr-defined]
        cls.__reduce__ = __reduce__  # type: ignore[assignment,method-assign]
        return cls

    return decorate
