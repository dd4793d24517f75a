"""conda_torch.values: a value class behaves as the same class under ``@dataclass``.

Each case writes one class body and builds it twice, with ``dataclasses.dataclass`` and with
``values.value_class`` (the same flags), then asks both the same questions: what ``__init__``
takes and fills in, equality, hashing, ordering, ``repr``, the frozen errors, ``replace``,
inheritance, pickling and copying.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import ClassVar  # noqa: F401 - CLASSVAR's annotation, as dataclasses finds it

import pytest

from conda_torch import values

BODY = '''
class Item:
    """doc"""
    name: str
    size: int = 0
    tags: tuple = ()
    notes: list = field(default_factory=list)
    sources: dict = field(default_factory=dict, compare=False, hash=False)
    cached: str = field(default="", repr=False, compare=False)
'''

POST_INIT = '''
class Sized:
    """doc"""
    text: str
    length: int = field(default=0, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, "length", len(self.text))
'''

ORDERED = '''
class Version:
    """doc"""
    key: tuple
    public: str = field(compare=False)
'''

SUBCLASS = '''
class Base:
    """doc"""
    a: int
    b: int = 2

class Child(Base):
    """doc"""
    c: int = 3
    b: int = 20
'''

OWN_METHODS = '''
class Own:
    """doc"""
    x: int

    def __repr__(self):
        return "own"

    def __eq__(self, other):
        return isinstance(other, Own)
'''

CLASSVAR = '''
class WithClassVar:
    """doc"""
    LIMIT: ClassVar[int] = 5
    x: int = 1
'''


def build(body: str, kind: str, **flags):
    """The classes ``body`` defines, under dataclasses (``kind="dc"``) or values."""
    if kind == "dc":
        decorator, field = dataclasses.dataclass(**flags), dataclasses.field
    else:
        decorator, field = values.value_class(**flags), values.field
    scope = {"__name__": __name__, "decorator": decorator, "field": field}
    code = "from __future__ import annotations\n" + body.replace("\nclass ", "\n@decorator\nclass ")
    exec(code, scope)
    return scope


@pytest.fixture(params=["dc", "values"])
def kind(request):
    return request.param


def both(body: str, name: str, **flags):
    return build(body, "dc", **flags)[name], build(body, "values", **flags)[name]


def observe(cls) -> dict:
    """What a user of ``cls`` (Item) sees, as plain data."""
    a = cls("a", 1, ("x",))
    b = cls("a", 1, ("x",), sources={"name": "elsewhere"}, cached="other")
    c = cls("a", size=2)
    d = cls(name="a", size=1, tags=("x",))
    return {
        "repr": repr(a).replace(cls.__qualname__, "Item"),
        "defaults": (c.size, c.tags, c.notes, c.sources, c.cached),
        "fresh factory": a.notes is not d.notes,
        "equal despite compare=False": a == b,
        "equal kw/positional": a == d,
        "unequal": a == c,
        "not equal to a tuple": a == ("a", 1, ("x",), [], {}, ""),
        "class default": cls.size,
        "no class attribute for a factory": hasattr(cls, "notes"),
        "match_args": cls.__match_args__,
    }


def test_a_value_class_behaves_as_a_dataclass():
    dc, vc = both(BODY, "Item", frozen=True)
    assert observe(vc) == observe(dc)
    assert [f.name for f in values.fields(vc)] == [f.name for f in dataclasses.fields(dc)]


def test_hashing_follows_the_hash_and_compare_flags():
    body = BODY.replace("notes: list = field(default_factory=list)", "")
    dc, vc = both(body, "Item", frozen=True)
    for cls in (dc, vc):
        a, b = cls("a", 1, sources={"x": "y"}), cls("a", 1, cached="other")
        # sources (a dict: unhashable) and cached are left out of the hash, size is not
        assert hash(a) == hash(b) and len({a, b}) == 1
        assert len({a, cls("a", 2, sources={"x": "y"})}) == 2


@pytest.mark.parametrize("frozen", [True, False])
def test_frozen_and_mutable(frozen):
    for cls in both(BODY, "Item", frozen=frozen):
        item = cls("a")
        if frozen:
            with pytest.raises(AttributeError, match="cannot assign to field 'size'"):
                item.size = 3
            with pytest.raises(AttributeError, match="cannot assign to field 'other'"):
                item.other = 3
            with pytest.raises(AttributeError, match="cannot delete field 'size'"):
                del item.size
        else:
            item.size = 3
            assert item.size == 3
            with pytest.raises(TypeError, match="unhashable"):
                hash(item)
    assert issubclass(values.FrozenInstanceError, AttributeError)


def test_post_init_and_init_false():
    dc, vc = both(POST_INIT, "Sized", frozen=True)
    for cls in (dc, vc):
        s = cls("abc")
        assert (s.length, repr(s).split("(", 1)[1]) == (3, "text='abc')")
        with pytest.raises(TypeError):
            cls("abc", 3)
    with pytest.raises(ValueError, match="init=False"):
        values.replace(vc("abc"), length=1)
    assert values.replace(vc("abc"), text="abcd").length == 4  # __post_init__ runs again


def test_ordering_compares_the_compared_fields_only():
    dc, vc = both(ORDERED, "Version", frozen=True, order=True)
    for cls in (dc, vc):
        versions = [cls((2, 10), "2.10"), cls((2, 9), "2.9"), cls((2, 9), "2.9.0")]
        assert [v.public for v in sorted(versions)] == ["2.9", "2.9.0", "2.10"]
        assert cls((2, 9), "2.9") == cls((2, 9), "2.9.0")
        assert cls((2, 9), "a") <= cls((2, 9), "b") and not cls((2, 9), "a") < cls((2, 9), "b")
        with pytest.raises(TypeError):
            _ = cls((2, 9), "a") < (2, 9)


def test_inheritance_keeps_field_order_and_overrides_defaults():
    for cls in both(SUBCLASS, "Child", frozen=True):
        child = cls(1)
        assert (child.a, child.b, child.c) == (1, 20, 3)
        assert repr(child) == "Child(a=1, b=20, c=3)"


def test_methods_the_class_writes_are_kept():
    for cls in both(OWN_METHODS, "Own", frozen=True):
        assert repr(cls(1)) == "own" and cls(1) == cls(2)
        assert hash(cls(1)) == hash(cls(1))


def test_classvar_is_not_a_field():
    dc, vc = both(CLASSVAR, "WithClassVar", frozen=True)
    assert [f.name for f in values.fields(vc)] == [f.name for f in dataclasses.fields(dc)] == ["x"]
    assert vc.LIMIT == 5


def test_definition_errors_match_dataclasses():
    for kind in ("dc", "values"):
        with pytest.raises(ValueError, match="mutable default"):
            build("\nclass Bad:\n    x: list = []\n", kind, frozen=True)
        with pytest.raises(TypeError, match="non-default argument 'y' follows default argument"):
            build("\nclass Bad:\n    x: int = 1\n    y: int\n", kind, frozen=True)
    with pytest.raises(ValueError, match="both default and default_factory"):
        values.field(default=1, default_factory=list)
    with pytest.raises(TypeError, match="is not a value class"):
        values.fields(object())


def test_init_is_compiled_on_the_first_instance_only():
    """A class no instance is made of compiles nothing; the first instance puts the class's own
    ``__init__`` in place, for the class and for a subclass that inherits it."""
    cls = build(BODY, "values", frozen=True)["Item"]
    placeholder = cls.__dict__["__init__"]
    assert placeholder.__qualname__.endswith("Item.__init__")
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'name'"):
        cls()  # the first call: compiled, then refused as dataclasses refuses it
    compiled = cls.__dict__["__init__"]
    assert compiled is not placeholder and compiled.__code__.co_varnames[:3] == (
        "self", "name", "size"
    )
    assert cls("a").size == 0 and cls.__dict__["__init__"] is compiled

    plain = build(BODY, "values", frozen=True)["Item"]

    class Sub(plain):
        pass

    assert Sub("b", 2).size == 2 and plain("c").name == "c"
    assert "__init__" not in Sub.__dict__ and plain.__dict__["__init__"].__code__.co_argcount == 7


def test_to_plain_is_asdict_with_lists():
    dc, vc = both(BODY, "Item", frozen=True)
    args = ("a", 1, ("x", "y"))
    kwargs = {"notes": [("n", 1)], "sources": {"s": ["t"]}}
    expected = dataclasses.asdict(dc(*args, **kwargs))
    expected.update(tags=["x", "y"], notes=[["n", 1]])  # tuples become lists (JSON's arrays)
    assert values.to_plain(vc(*args, **kwargs)) == expected
    assert values.to_plain([vc("b"), 2]) == [values.to_plain(vc("b")), 2]


def test_replace_pickle_and_copy():
    cls = build(BODY, "values")["Item"]
    item = cls("a", 1, ("x",), notes=["n"], sources={"s": "t"})
    changed = values.replace(item, size=5)
    assert (changed.size, changed.name) == (5, "a")
    assert (changed.notes, changed.sources) == (["n"], {"s": "t"})
    assert changed.notes is item.notes  # as dataclasses.replace: a shallow copy
    with pytest.raises(TypeError):
        values.replace(item, unknown=1)
    assert copy.deepcopy(item) == item and copy.copy(item) == item
    globals()["Item"] = cls  # pickle finds a class by its module and name
    cls.__module__, cls.__qualname__ = __name__, "Item"
    try:
        assert pickle.loads(pickle.dumps(item)) == item
    finally:
        del globals()["Item"]


def test_the_library_defines_its_values_with_value_class():
    """No module of the package imports dataclasses (DESIGN.md, "Start-up time")."""
    import ast
    from pathlib import Path

    root = Path(values.__file__).parent
    users = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            if "dataclasses" in names:
                users.append(str(path.relative_to(root)))
    assert users == []
