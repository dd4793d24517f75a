"""Value types: ``@value_class``, what ``@dataclass(frozen=True)`` makes, in a quarter of the time.

The library's values (the machine picture, plans, builds, findings) are frozen classes with
typed fields, defaults, ``field(default_factory=...)``, equality, hashing, ordering on request,
``__post_init__`` and :func:`replace`, as :mod:`dataclasses` has them. :mod:`dataclasses`
compiles six functions per frozen class from source text when the class is created, in every
process: the 38 classes of ``generate --from`` took 19-31 ms, on a machine where
``python -c pass`` takes 10 ms. Here a class compiles one function, its ``__init__`` (so making
an instance costs what a dataclass's does), and only when its first instance is made: a
command imports many classes it makes no instance of. Equality, hashing, ordering, ``repr`` and
the frozen ``__setattr__`` are shared functions over the field names (``operator.attrgetter``).
The behaviour is the dataclass's, held to it case by case in ``tests/test_values.py``
(DESIGN.md, "Start-up time").
"""

from __future__ import annotations

from operator import attrgetter, ge, gt, le, lt

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_: object) -> Callable[[T], T]:
        return lambda decorator: decorator


__all__ = ["MISSING", "Field", "FrozenInstanceError", "field", "fields", "is_value", "replace",
           "to_plain", "value_class"]  # fmt: skip

#: The attribute a value class keeps its fields in, in ``__init__``'s order.
_FIELDS = "__value_fields__"


class FrozenInstanceError(AttributeError):
    """Assigning to (or deleting) a field of a frozen value."""


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: No default given.
MISSING: Any = _Missing()


class Field:
    """One field of a value class: its name, default or default factory, and whether it is an
    ``__init__`` argument, shown by ``repr``, compared and hashed (``hash=None``: as compared)."""

    __slots__ = ("name", "default", "default_factory", "init", "repr", "compare", "hash")

    def __init__(
        self,
        default: Any,
        default_factory: Any,
        init: bool,
        repr: bool,  # dataclasses.field's name
        compare: bool,
        hash: bool | None,  # dataclasses.field's name
    ) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare
        self.hash = compare if hash is None else hash

    def __repr__(self) -> str:
        return (
            f"Field(name={self.name!r}, default={self.default!r}, "
            f"default_factory={self.default_factory!r}, init={self.init}, repr={self.repr}, "
            f"compare={self.compare}, hash={self.hash})"
        )


def field(
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    init: bool = True,
    repr: bool = True,  # dataclasses.field's name
    compare: bool = True,
    hash: bool | None = None,  # dataclasses.field's name
) -> Any:
    """A field with settings, as :func:`dataclasses.field`."""
    return Field(default, default_factory, init, repr, compare, hash)


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def value_class(
    cls: type[T] | None = None, /, *, frozen: bool = True, order: bool = False
) -> Any:
    """Make ``cls`` a value class: ``@value_class``, ``@value_class(order=True)``, or
    ``@value_class(frozen=False)`` (a mutable record, unhashable like a mutable dataclass)."""

    def wrap(cls: type[T]) -> type[T]:
        return _build(cls, frozen=frozen, order=order)

    return wrap if cls is None else wrap(cls)


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a value class or instance, in ``__init__``'s order."""
    try:
        return getattr(obj, _FIELDS)  # type: ignore[no-any-return]
    except AttributeError:
        raise TypeError(f"{obj!r} is not a value class or instance") from None


def is_value(obj: Any) -> bool:
    """Whether ``obj`` is a value class or an instance of one."""
    return hasattr(obj, _FIELDS)


def to_plain(obj: Any) -> Any:
    """``obj`` as plain data for JSON: a value becomes a dict of its fields, a list or tuple a
    list, a dict a dict, each element converted the same way (as :func:`dataclasses.asdict`,
    but with lists for tuples)."""
    if is_value(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the value ``obj`` with ``changes``, through ``__init__`` (so its checks run),
    as :func:`dataclasses.replace`."""
    for f in fields(obj):
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be "
                                 "specified with replace()")  # fmt: skip
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)  # type: ignore[no-any-return]


# -- building a class -----------------------------------------------------------------------


def _build(cls: type[T], *, frozen: bool, order: bool) -> type[T]:
    own = cls.__dict__
    found: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get(_FIELDS, ()):
            found[f.name] = f
    for name, kind in own.get("__annotations__", {}).items():
        if _is_classvar(kind):
            continue
        given = own.get(name, MISSING)
        f = given if isinstance(given, Field) else Field(given, MISSING, True, True, True, None)
        f.name = name
        if isinstance(f.default, (list, dict, set)):
            raise ValueError(
                f"mutable default {type(f.default)} for field {name} is not allowed: use "
                "default_factory"
            )
        if isinstance(given, Field):  # the class attribute is the default, or nothing
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        found[name] = f
    all_fields = tuple(found.values())
    setattr(cls, _FIELDS, all_fields)

    _check_defaults(all_fields)
    _set(cls, "__init__", _lazy_init(cls, all_fields, frozen))
    _set(cls, "__repr__", _repr(tuple(f.name for f in all_fields if f.repr)))
    compared = tuple(f.name for f in all_fields if f.compare)
    key = attrgetter(*compared) if compared else _no_key
    _set(cls, "__eq__", _eq(key))
    # a __hash__ the body wrote stays; the None Python sets beside a written __eq__ does not
    if "__hash__" not in own or (own["__hash__"] is None and "__eq__" in own):
        if frozen:
            hashed = tuple(f.name for f in all_fields if f.hash)
            cls.__hash__ = _hash(attrgetter(*hashed) if hashed else _no_key)  # type: ignore[method-assign]
        else:
            cls.__hash__ = None  # type: ignore[assignment]
    if order:
        for op in (lt, le, gt, ge):
            name = f"__{op.__name__}__"
            if name in own:
                raise TypeError(f"cannot overwrite attribute {name} in class {cls.__name__}")
            setattr(cls, name, _order(key, op))
    if frozen:
        names = frozenset(f.name for f in all_fields)
        for name in ("__setattr__", "__delattr__"):
            if name in own:
                raise TypeError(f"cannot overwrite attribute {name} in class {cls.__name__}")
        cls.__setattr__ = _frozen_setattr(cls, names)  # type: ignore[method-assign, assignment]
        cls.__delattr__ = _frozen_delattr(cls, names)  # type: ignore[method-assign, assignment]
    cls.__match_args__ = tuple(f.name for f in all_fields if f.init)  # type: ignore[attr-defined]
    return cls


def _is_classvar(kind: object) -> bool:
    text = kind if isinstance(kind, str) else getattr(kind, "__qualname__", "") or ""
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _set(cls: type, name: str, function: Callable[..., Any]) -> None:
    """Set a generated method unless the class body wrote its own (as dataclasses does)."""
    if name not in cls.__dict__:
        function.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, function)


def _check_defaults(all_fields: tuple[Field, ...]) -> None:
    """Refuse, when the class is made, what its ``__init__`` could not be (as dataclasses)."""
    defaulted = False
    for f in all_fields:
        if not f.init:
            continue
        if f.default is not MISSING or f.default_factory is not MISSING:
            defaulted = True
        elif defaulted:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")


def _lazy_init(cls: type, all_fields: tuple[Field, ...], frozen: bool) -> Callable[..., None]:
    """An ``__init__`` that compiles the class's own (:func:`_init`) on the first instance,
    puts it in its place and calls it.

    A command imports many more value classes than it makes instances of (``doctor --from``:
    35 and 18), and compiling an ``__init__`` is most of what making a class costs.
    """

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        real = cls.__dict__["__init__"]
        if real is __init__:  # the first instance: compile, and replace this one
            real = _init(cls, all_fields, frozen)
            real.__qualname__ = f"{cls.__qualname__}.__init__"
            cls.__init__ = real  # type: ignore[misc]
        real(self, *args, **kwargs)

    return __init__


def _init(cls: type, all_fields: tuple[Field, ...], frozen: bool) -> Callable[..., None]:
    """``__init__``, compiled from source as dataclasses does (an instance costs what a
    dataclass's does), in one ``exec``."""
    names: dict[str, Any] = {"_MISSING": MISSING, "_setattr": object.__setattr__}
    params: list[str] = []
    body: list[str] = []
    for f in all_fields:
        if f.default is not MISSING:
            names[f"_d_{f.name}"] = f.default
        if f.default_factory is not MISSING:
            names[f"_f_{f.name}"] = f.default_factory
        if f.init:
            if f.default is not MISSING:
                params.append(f"{f.name}=_d_{f.name}")
            elif f.default_factory is not MISSING:
                params.append(f"{f.name}=_MISSING")
            else:
                params.append(f.name)
            if f.default_factory is not MISSING:
                given = f"_f_{f.name}() if {f.name} is _MISSING else {f.name}"
            else:
                given = f.name
        elif f.default_factory is not MISSING:
            given = f"_f_{f.name}()"
        elif f.default is not MISSING:
            given = f"_d_{f.name}"
        else:
            continue
        if frozen:
            body.append(f"  _setattr(self, {f.name!r}, {given})")
        else:
            body.append(f"  self.{f.name} = {given}")
    if hasattr(cls, "__post_init__"):
        body.append("  self.__post_init__()")
    source = (
        f"def __make__({', '.join(names)}):\n"
        f" def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "  pass") + "\n"
        " return __init__\n"
    )
    scope: dict[str, Any] = {}
    exec(source, {"__builtins__": __builtins__}, scope)  # as dataclasses does
    return scope["__make__"](**names)  # type: ignore[no-any-return]


def _no_key(_: object) -> tuple[()]:
    return ()


def _repr(shown: tuple[str, ...]) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{self.__class__.__qualname__}({inner})"

    return __repr__


def _eq(key: Callable[[Any], Any]) -> Callable[[Any, object], Any]:
    def __eq__(self: Any, other: object) -> Any:
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented

    return __eq__


def _hash(key: Callable[[Any], Any]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(key(self))

    return __hash__


def _order(
    key: Callable[[Any], Any], op: Callable[[Any, Any], Any]
) -> Callable[[Any, object], Any]:
    def compare(self: Any, other: object) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return op(key(self), key(other))

    compare.__name__ = f"__{op.__name__}__"
    return compare


def _frozen_setattr(cls: type, names: frozenset[str]) -> Callable[[Any, str, Any], None]:
    def __setattr__(self: Any, name: str, val: Any) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, val)

    return __setattr__


def _frozen_delattr(cls: type, names: frozenset[str]) -> Callable[[Any, str], None]:
    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    return __delattr__
