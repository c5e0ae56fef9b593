"""``Record``: the base of the frozen value types a hub takes and returns.

A record is declared like a frozen dataclass, by annotated class attributes in order,
a class-level value being the field's default.  It has keyword and positional
construction, equality and hashing by value, a repr, pattern matching, pickling, and
``replace``, ``fields`` and ``as_dict`` in place of the ``dataclasses`` functions.
Type checkers see a frozen dataclass (PEP 681).

Why not ``dataclasses``: importing it (with the ``inspect`` it imports) and generating
the methods of the dozen records every command reaches took a third of the instructions
of a short CLI call, which a bash agent pays on every call (BENCHMARKS.md, "A CLI call
without dataclasses").  A record's class statement only reads its annotations.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from typing_extensions import Self, dataclass_transform
else:

    def dataclass_transform(**_: object) -> object:
        return lambda cls: cls


__all__ = ["Record"]

MUTABLE_DEFAULTS = (list, dict, set, bytearray)


@dataclass_transform(frozen_default=True)
class Record:
    """A frozen value: declare fields as annotated class attributes (see the module)."""

    _fields: ClassVar[tuple[str, ...]] = ()
    _types: ClassVar[dict[str, str]] = {}
    _defaults: ClassVar[dict[str, Any]] = {}
    _names: ClassVar[frozenset[str]] = frozenset()
    __match_args__: ClassVar[tuple[str, ...]] = ()
    _checked: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # With postponed annotations (every module here) each annotation is its text.
        own = {
            name: str(kind)
            # not inspect.get_annotations: importing inspect is what records avoid
            for name, kind in cls.__dict__.get("__annotations__", {}).items()  # noqa: RUF063
            if not _is_class_variable(str(kind))
        }
        cls._types = {**cls._types, **own}
        cls._fields = tuple(cls._types)
        cls._names = frozenset(cls._fields)
        # As dataclasses: a default is the value beside the field's own annotation.
        given = {name: cls.__dict__[name] for name in own if name in cls.__dict__}
        cls._defaults = {**cls._defaults, **given}
        cls.__match_args__ = cls._fields  # type: ignore[misc]  # mypy derives its own
        cls._checked = cls.__post_init__ is not Record.__post_init__
        _check_defaults(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        named = kwargs
        if args:  # inline: a hub makes most of its small records positionally
            named = dict(zip(self._fields, args, strict=False))
            if kwargs or len(args) > len(self._fields):
                named = _by_name(type(self), named, args, kwargs)
        values = {**self._defaults, **named} if self._defaults else named  # a new dict
        # Every field, and nothing else: a hub makes several records a message, so this
        # is the cheap form of values.keys() == self._names.
        if len(values) != len(self._fields) or not self._names.issuperset(named):
            raise TypeError(_arguments_error(type(self), args, kwargs))
        _set(self, "__dict__", values)
        if self._checked:
            self.__post_init__()

    def __post_init__(self) -> None:
        """Check the values: a subclass raises here to refuse them."""

    @classmethod
    def _unchecked(cls, values: dict[str, Any]) -> Self:
        """The record of ``values``, which the caller guarantees name every field and
        nothing else (defaults included); the dict becomes the record's own.  For a hub's
        hot paths, which build several records a message from what they stored: the
        checks of ``__init__`` cost twice the rest (BENCHMARKS.md).  A record that checks
        its values (``__post_init__``) has no unchecked form."""
        if cls._checked:
            raise TypeError(f"{cls.__name__} checks its values: construct it")
        record = _new(cls)
        _set(record, "__dict__", values)
        return record

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        """The field names, in declaration order (inherited fields first)."""
        return cls._fields

    def as_dict(self) -> dict[str, Any]:
        """The fields and their values (not copied: nested records stay records)."""
        return {name: self.__dict__[name] for name in self._fields}

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied, checked as a new record is."""
        return type(self)(**{**self.__dict__, **changes})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__[name] for name in self._fields))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={self.__dict__[name]!r}" for name in self._fields)
        return f"{type(self).__qualname__}({shown})"


def _check_defaults(cls: type[Record]) -> None:
    """Refuse what dataclasses refuses: a required field after a default, a mutable default."""
    seen_default = None
    for name in cls._fields:
        if name in cls._defaults:
            seen_default = name
            if isinstance(cls._defaults[name], MUTABLE_DEFAULTS):
                raise TypeError(f"{cls.__name__}.{name}: a mutable default is shared; use a tuple")
        elif seen_default is not None:
            raise TypeError(
                f"{cls.__name__}.{name} has no default but follows {seen_default!r}, which has"
            )


def _is_class_variable(annotation: str) -> bool:
    """``ClassVar[...]`` or ``typing.ClassVar[...]``: a class attribute, not a field."""
    return annotation.partition("[")[0].rpartition(".")[2] == "ClassVar"


_set = object.__setattr__  # past the record's own __setattr__, which refuses
_new = object.__new__


def _by_name(
    cls: type[Record], named: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The positional arguments (``named`` by their fields) and the named ones together;
    refused if a field is given both ways, or there are more arguments than fields."""
    if len(args) > len(cls._fields) or not named.keys().isdisjoint(kwargs):
        raise TypeError(_arguments_error(cls, args, kwargs))
    named.update(kwargs)
    return named


def _arguments_error(cls: type[Record], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    name = cls.__name__
    if len(args) > len(cls._fields):
        return f"{name}() takes {len(cls._fields)} positional arguments but {len(args)} were given"
    twice = sorted(kwargs.keys() & set(cls._fields[: len(args)]))
    if twice:
        return f"{name}() got multiple values for {', '.join(map(repr, twice))}"
    unknown = sorted(kwargs.keys() - cls._names)
    if unknown:
        return f"{name}() got unexpected fields {', '.join(map(repr, unknown))}"
    missing = [f for f in cls._fields[len(args) :] if f not in cls._defaults and f not in kwargs]
    return f"{name}() is missing {', '.join(map(repr, missing))}"
