"""The API reference (docs/reference/) covers the public API, as mkdocstrings renders it.

The package is read as the docs build reads it: by Griffe, with docs/griffe_nnkit.py, numpydoc
docstrings, mkdocstrings' ``filters: public`` (a module's ``__all__``, else its names without
a leading underscore) and ``show_if_no_docstring: false`` (an object without a docstring is
not rendered). Every public name of every module a reference page documents (``::: module``)
must be rendered somewhere in the reference with a docstring, every module with an
``__all__`` must be documented, every public method of a rendered class must have a docstring
(or override a documented method of its base), and every rendered function must document each
of its parameters, and what it returns where it returns something.
"""

import logging
import re
import textwrap
from pathlib import Path

import griffe
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"
NOT_API = ("nnkit.cli", "nnkit.bench", "nnkit.__main__")  # commands, not a Python API
_DIRECTIVE = re.compile(r"^::: (\S+)\n((?:[ ]{4}.*\n|\n)*)", re.M)


def load_package() -> tuple[griffe.Module, list[str]]:
    """nnkit as the docs build loads it, and the warnings its docstrings raise when parsed."""
    loader = griffe.GriffeLoader(
        extensions=griffe.load_extensions(str(ROOT / "docs" / "griffe_nnkit.py")),
        docstring_parser=griffe.Parser.numpy,
    )
    package = loader.load("nnkit")
    loader.resolve_aliases(implicit=False, external=None)
    warnings = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())
    logger = logging.getLogger("griffe")
    logger.addHandler(handler)
    try:
        for obj in walk(package):
            if obj.docstring:
                obj.docstring.parse(griffe.Parser.numpy)
    finally:
        logger.removeHandler(handler)
    return package, warnings


def walk(obj, seen=None):
    """``obj`` and every object defined below it (aliases skipped)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from walk(member, seen)


def target(obj):
    """An alias's final target (an object of another package: None), or the object itself."""
    if not obj.is_alias:
        return obj
    try:
        return obj.final_target
    except griffe.AliasResolutionError:
        return None


def directives() -> list[tuple[str, dict]]:
    """Every ``::: path`` of the reference pages, with its options."""
    found = []
    for page in sorted(REFERENCE.glob("*.md")):
        for path, block in _DIRECTIVE.findall(page.read_text()):
            config = yaml.safe_load(textwrap.dedent(block)) if block.strip() else None
            found.append((path, (config or {}).get("options", {})))
    return found


def public_members(obj, names=None):
    """The members mkdocstrings renders for ``obj``: ``names`` if given, else the public ones;
    no submodules, nothing inherited."""
    for name, member in obj.members.items():
        if names is not None and name not in names:
            continue
        if names is None and not member.is_public:
            continue
        resolved = target(member)
        if resolved is None or not resolved.is_module:
            yield name, member


def rendered(obj, names=None):
    """The objects a directive on ``obj`` renders (targets of aliases): those with a
    docstring, with the members of modules and classes below them."""
    obj = target(obj)
    if obj is None or not obj.docstring:
        return
    yield obj
    for _, member in public_members(obj, names):
        yield from rendered(member)


def all_rendered():
    """Every object the reference pages render."""
    for (_, options), documented in zip(DIRECTIVES, DOCUMENTED, strict=True):
        yield from rendered(documented, options.get("members"))


PACKAGE, WARNINGS = load_package()
DIRECTIVES = directives()
DOCUMENTED = [PACKAGE.get_member(path.removeprefix("nnkit.")) if path != "nnkit" else PACKAGE
              for path, _ in DIRECTIVES]  # fmt: skip
RENDERED = {id(obj) for obj in all_rendered()}
MODULES = [obj for obj in DOCUMENTED if obj.is_module]


def public_names():
    """A (module, member) param for every public name of every documented module."""
    return [
        pytest.param(module, member, id=f"{module.path}.{name}")
        for module in MODULES
        for name, member in public_members(module)
    ]


@pytest.mark.parametrize("module, member", public_names())
def test_every_public_name_is_in_the_reference_with_a_docstring(module, member):
    obj = target(member)
    assert obj is not None, f"{member.path} is not nnkit's: leave it out of {module.path}'s API"
    assert obj.docstring and obj.docstring.value.strip(), f"{obj.path} has no docstring"
    assert id(obj) in RENDERED, f"{member.path} is not rendered by any page of docs/reference"


def test_every_module_with_an_all_is_in_the_reference():
    documented = {m.path for m in MODULES}
    with_all = {
        obj.path
        for obj in walk(PACKAGE)
        if obj.is_module and obj.exports is not None and not obj.path.startswith(NOT_API)
    }
    assert with_all - documented == set()
    assert {"nnkit.backends", "nnkit.layers", "nnkit.losses", "nnkit.optim", "nnkit.training",
            "nnkit.estimators", "nnkit.distributed"} <= documented  # fmt: skip


def rendered_classes():
    classes = {id(o): o for o in all_rendered() if o.is_class}
    return [pytest.param(c, id=c.path) for c in classes.values()]


def documented_in_a_base(cls, name):
    """Whether a base class of ``cls`` defines ``name`` with a docstring."""
    for base in cls.mro():
        member = base.members.get(name)
        if member is not None and target(member) is not None and target(member).docstring:
            return True
    return False


def methods(cls):
    """The public methods and properties that ``cls`` itself defines (``__call__`` too)."""
    for name, member in cls.members.items():
        if member.is_alias or (name.startswith("_") and name != "__call__"):
            continue
        if member.is_function or "property" in member.labels:
            yield name, member


@pytest.mark.parametrize("cls", rendered_classes())
def test_every_public_method_has_a_docstring_or_overrides_a_documented_one(cls):
    missing = [
        name
        for name, member in methods(cls)
        if not member.docstring and not documented_in_a_base(cls, name)
    ]
    assert missing == [], f"{cls.path}: no docstring on {missing}"


def documented_parameters(*docstrings):
    """The names listed in the Parameters, Other Parameters and Attributes sections of
    docstrings (a dataclass's or named tuple's fields are its attributes)."""
    kinds = (griffe.DocstringSectionKind.parameters, griffe.DocstringSectionKind.other_parameters,
             griffe.DocstringSectionKind.attributes)  # fmt: skip
    return {
        p.name.lstrip("*")
        for d in docstrings
        if d
        for section in d.parse(griffe.Parser.numpy)
        if section.kind in kinds
        for p in section.value
    }


def signature_of(obj):
    """The function whose parameters ``obj`` documents: itself, or a class's ``__init__``."""
    if obj.is_function:
        return obj
    init = obj.members.get("__init__") if obj.is_class else None
    if init is None or not target(init).is_function:
        # none, or made at import time (the CV searches take the MLP's parameters): its
        # parameters are documented in the docstring built then (help()), not in the source
        return None
    return target(init)


def rendered_callables():
    found = {id(o): o for o in all_rendered() if o.is_function or o.is_class}
    return [pytest.param(o, id=o.path) for o in found.values()]


@pytest.mark.parametrize("obj", rendered_callables())
def test_every_parameter_and_return_value_is_documented(obj):
    function = signature_of(obj)
    if function is None:
        return
    names = [p.name for p in function.parameters if p.name not in ("self", "cls")]
    docs = [obj.docstring] + ([function.docstring] if function is not obj else [])
    undocumented = set(names) - documented_parameters(*docs)
    assert undocumented == set(), f"{obj.path}: parameters {sorted(undocumented)} undocumented"
    returns = function.returns
    if obj.is_function and "property" not in obj.labels and returns not in (None, "None"):
        kinds = {s.kind for s in obj.docstring.parse(griffe.Parser.numpy)}
        assert kinds & {griffe.DocstringSectionKind.returns, griffe.DocstringSectionKind.yields}, (
            f"{obj.path} returns {returns} but its docstring has no Returns section"
        )


def test_the_docstrings_parse_without_warnings():
    assert WARNINGS == []


def test_the_checks_see_a_missing_docstring_and_parameter():
    """What the tests above rely on: an undocumented function is not rendered, and a
    parameter missing from its docstring is seen."""
    module = griffe.visit(
        "fake",
        filepath=Path("fake.py"),
        code='def bare(x):\n    pass\n\n\ndef half(x, y):\n    """Half.\n\n    Parameters\n'
        '    ----------\n    x : int\n        A number.\n    """\n',
    )
    assert list(rendered(module["bare"])) == []
    assert documented_parameters(module["half"].docstring) == {"x"}
