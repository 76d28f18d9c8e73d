"""Fast pickling of frozen slotted attrs classes: a tuple of values, written into the slots.

A parsed file crosses from the parse worker to the commit stage as a pickle
(``actors/processor.py``).  attrs pickles a slotted class through Python-level
``__getstate__`` (a dict comprehension) and ``__setstate__`` (a frozen-safe
``setattr`` per field, looked up by name), tens of microseconds per listing on
each side.  :func:`fast_pickle` gives a class a ``__reduce__`` that takes all
its slots at once (``operator.attrgetter``, in C) and a restorer that writes
them straight into a new instance's slots, without ``__init__``: one line per
slot calling that slot's descriptor (generated once per class, as attrs
generates its ``__init__``; half the time of a loop over the slots).  The
instance comes back exactly as it was pickled, derived (``init=False``) fields
included, except those named in ``reset``, which get their default.
"""

from __future__ import annotations

import operator
import pickle
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs

if TYPE_CHECKING:
    from attrs import AttrsInstance

__all__ = ["fast_pickle"]

T = TypeVar("T")


def _restore(cls: type[Any], names: tuple[str, ...], values: tuple[Any, ...]) -> Any:
    """A new ``cls`` instance with its slots set from ``values`` (see :func:`fast_pickle`).

    ``cls`` comes by reference, so unpickling imports its module, which defines the
    restorer (the decorator runs at import). ``names`` are the fields the pickling side
    carried, in order (one tuple per class, memoised by pickle): a class whose fields
    changed in between (a worker started from newer code) fails here instead of
    restoring values into the wrong fields.
    """
    if names != cls.__fast_pickle_names__:
        raise pickle.UnpicklingError(
            f"{cls.__qualname__} was pickled with the fields {names}, "
            f"it now has {cls.__fast_pickle_names__}"
        )
    return cls.__fast_pickle_restore__(values)


def _restorer(cls: type[Any], carried: list[Any], reset: list[tuple[Any, Any]]) -> Any:
    """``restore(values)``: a new ``cls`` with the ``carried`` slots set from ``values`` in
    order and the ``reset`` slots to their defaults, as straight-line code."""
    names = [f"v{i}" for i in range(len(carried))]
    lines = ["def restore(values):", "    o = new(cls)"]
    if names:
        lines.append(f"    {', '.join(names)}, = values")
    lines += [f"    c{i}(o, {v})" for i, v in enumerate(names)]
    lines += [f"    r{i}(o, d{i})" for i in range(len(reset))]
    lines.append("    return o")
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    scope |= {f"c{i}": d.__set__ for i, d in enumerate(carried)}
    scope |= {f"r{i}": d.__set__ for i, (d, _) in enumerate(reset)}
    scope |= {f"d{i}": default for i, (_, default) in enumerate(reset)}
    exec(compile("\n".join(lines), f"<fast_pickle {cls.__qualname__}>", "exec"), scope)
    return scope["restore"]


def _slot(cls: type[Any], name: str) -> Any:
    descriptor = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
    if not isinstance(descriptor, types.MemberDescriptorType):
        raise TypeError(f"{cls.__name__}.{name} is not a slot")
    return descriptor


def fast_pickle(*, reset: tuple[str, ...] = ()) -> Callable[[type[T]], type[T]]:
    """Class decorator (outside ``@attrs.frozen``): pickle as a tuple of the slots' values.

    ``reset``: fields not carried (e.g. a memo that holds objects the other process
    cannot use); they are restored with their attrs default, which must be a plain
    value (not a factory).
    """

    def decorate(cls: type[T]) -> type[T]:
        fields = attrs.fields(cast("type[AttrsInstance]", cls))
        defaults = []
        for name in reset:
            default = getattr(fields, name).default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                raise TypeError(f"{cls.__name__}.{name}: a reset field needs a plain default")
            defaults.append((_slot(cls, name), default))
        carried = [f.name for f in fields if f.name not in reset]
        names = tuple(carried)
        get = operator.attrgetter(*carried)
        one = len(carried) == 1

        def __reduce__(self: T) -> tuple[Callable[..., Any], tuple[Any, ...]]:
            return _restore, (cls, names, (get(self),) if one else get(self))

        cls.__fast_pickle_names__ = names  # type: ignore[attr-defined]

        cls.__fast_pickle_restore__ = _restorer(  # type: ignore[attr-defined]
            cls, [_slot(cls, name) for name in carried], defaults
        )
        cls.__reduce__ = __reduce__  # type: ignore[assignment,method-assign]
        return cls

    return decorate
