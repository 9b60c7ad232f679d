"""YAML text -> Python values with line numbers, fast, bounded, and safe.

Why not ``yaml.load(text, SafeLoader)``: on a 20,000-task suite PyYAML's pure-Python scanner,
composer and constructor take most of the ``dtf plan`` run (28 of 34 profiled seconds).
libyaml's C parser gives the same events, with the same marks (line, column), in a fraction
of the time; composing nodes and constructing objects from them in Python is what stays slow.
So this module reads the parser's *events* and builds the values directly, in one loop
without recursion:

- mappings are ``LineMap`` dicts that remember their own line and each key's line, so every
  suite error still says ``FILE:LINE``;
- scalars are resolved with PyYAML's own YAML 1.1 rules (``SafeLoader``: ints, floats,
  booleans, null, timestamps), so the values are exactly what ``yaml.safe_load`` gives;
- anchors and aliases share one object (no copy), merge keys (``<<``) behave as in PyYAML;
- hostile input is bounded: nesting deeper than ``MAX_DEPTH`` and documents whose aliases
  would expand to more than ``alias_budget`` nodes (the "billion laughs") are refused with a
  ``yaml.YAMLError`` naming the line, before anything walks the shared structure.

Without libyaml (a platform without the wheel) the same loop runs on PyYAML's Python parser:
slower, identical results.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

MAX_DEPTH = 64
"""Deepest nesting accepted; a suite needs about 5 levels. Deeper input is an attack or a bug."""

MIN_ALIAS_BUDGET = 10_000
"""Nodes that aliases may add in any document; beyond it, at most the document's own size."""

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_PARSER: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


class LineMap(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers its line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class _Scalars(SafeConstructor, Resolver):
    """PyYAML's safe scalar rules, used one scalar at a time (no node graph)."""

    def __init__(self) -> None:
        SafeConstructor.__init__(self)

    def value(self, event: ScalarEvent) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self._implicit(event.value) if event.implicit[0] else _STR
        if tag == _STR:
            return event.value
        if tag == _MERGE:
            return _MERGE_KEY
        constructor = self.yaml_constructors.get(tag)
        if constructor is None:
            raise ConstructorError(None, None, f"could not determine a constructor for the tag {tag!r}",
                                   event.start_mark)
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        return constructor(self, node)

    def _implicit(self, value: str) -> str:
        """The tag a plain scalar resolves to (Resolver.resolve for scalars, without its path machinery)."""
        first = value[:1] if value else ""
        if first not in self.yaml_implicit_resolvers and None not in self.yaml_implicit_resolvers:
            return _STR  # most scalars: ids, commands, labels
        resolvers = self.yaml_implicit_resolvers.get(first, [])
        for tag, regexp in resolvers + self.yaml_implicit_resolvers.get(None, []):  # type: ignore[operator]
            if regexp.match(value):
                return str(tag)
        return _STR


class _Frame:
    """A mapping or sequence being built: its value, size so far and pending key."""

    __slots__ = ("value", "is_map", "key", "key_line", "anchor", "size", "merges", "line")

    def __init__(self, value: Any, is_map: bool, anchor: str | None, line: int) -> None:
        self.value = value
        self.is_map = is_map
        self.key: Any = _NO_KEY
        self.key_line = 0
        self.anchor = anchor
        self.size = 1
        self.merges: list[tuple[Any, Any]] = []
        self.line = line


_NO_KEY = object()


def _hashable(key: Any, mark: Any) -> Any:
    try:
        hash(key)
    except TypeError:
        raise ConstructorError("while constructing a mapping", None, "found unhashable key", mark) from None
    return key


def load_yaml(text: str) -> Any:
    """The first document of ``text`` (None when empty); raises ``yaml.YAMLError`` with a mark."""
    parser = _PARSER(text)
    try:
        return _build(parser)
    finally:
        parser.dispose()


def _build(parser: Any) -> Any:  # noqa: C901 - one event loop reads best in one place
    scalars = _Scalars()
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    nodes = 0
    expanded = 0
    result: Any = None
    documents = 0
    while True:
        event = parser.get_event()
        if event is None:
            break
        size = 1
        if isinstance(event, ScalarEvent):
            nodes += 1
            value = scalars.value(event)
            if event.anchor:
                _new_anchor(anchors, event)
                anchors[event.anchor] = (value, 1)
        elif isinstance(event, AliasEvent):
            if event.anchor not in anchors:
                raise ConstructorError(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
            value, size = anchors[event.anchor]
            if value is _BUILDING:
                raise ConstructorError(None, None, f"found recursive alias {event.anchor!r}", event.start_mark)
            expanded += size
            if expanded > max(MIN_ALIAS_BUDGET, nodes):
                raise ConstructorError(
                    None, None,
                    f"aliases expand to more than {max(MIN_ALIAS_BUDGET, nodes)} nodes (alias {event.anchor!r}); "
                    "a suite never needs that many: write the values out or use fewer nested aliases",
                    event.start_mark)
        elif isinstance(event, (MappingStartEvent, SequenceStartEvent)):
            nodes += 1
            if len(stack) >= MAX_DEPTH:
                raise ConstructorError(None, None, f"nesting deeper than {MAX_DEPTH} levels; a suite needs "
                                       "about 5 (is this the right file?)", event.start_mark)
            is_map = isinstance(event, MappingStartEvent)
            tag = event.tag
            if tag not in (None, "!", _MAP if is_map else _SEQ):
                raise ConstructorError(None, None, f"could not determine a constructor for the tag {tag!r}",
                                       event.start_mark)
            line = event.start_mark.line + 1
            container: Any = LineMap() if is_map else []
            if is_map:
                container.line = line
                container.key_lines = {}
            if event.anchor:
                _new_anchor(anchors, event)
                anchors[event.anchor] = (_BUILDING, 1)
            stack.append(_Frame(container, is_map, event.anchor, line))
            continue
        elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
            frame = stack.pop()
            if frame.is_map and frame.merges:
                _merge(frame)
            value, size = frame.value, frame.size
            if frame.anchor:
                anchors[frame.anchor] = (value, size)
        else:  # stream and document events
            if isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise ComposerError("expected a single document in the stream", None,
                                        "but found another document", event.start_mark)
            continue
        if not stack:
            result = value if value is not _MERGE_KEY else "<<"
            continue
        parent = stack[-1]
        parent.size += size
        if value is _MERGE_KEY and not (parent.is_map and parent.key is _NO_KEY):
            raise ConstructorError(None, None, "'<<' (a merge key) can only be a mapping key", event.start_mark)
        if not parent.is_map:
            parent.value.append(value)
        elif parent.key is _NO_KEY:
            parent.key = _hashable(value, event.start_mark)
            parent.key_line = event.start_mark.line + 1
            if value is _MERGE_KEY:
                parent.key = (_MERGE_KEY, event.start_mark)
        else:
            key = parent.key
            parent.key = _NO_KEY
            if isinstance(key, tuple) and len(key) == 2 and key[0] is _MERGE_KEY:
                parent.merges.append((value, key[1]))
                continue
            parent.value[key] = value
            parent.value.key_lines[str(key)] = parent.key_line
    return result


_BUILDING = object()
_MERGE_KEY = object()


def _new_anchor(anchors: dict[str, tuple[Any, int]], event: Any) -> None:
    """PyYAML refuses an anchor defined twice; so do we (one name, one value)."""
    if event.anchor in anchors:
        raise ComposerError(None, None, f"found duplicate anchor {event.anchor!r}", event.start_mark)


def _merge(frame: _Frame) -> None:
    """``<<: *base`` / ``<<: [*a, *b]``: keys the mapping lacks, earlier sources first (PyYAML)."""
    explicit: LineMap = frame.value
    merged = LineMap()
    merged.line = explicit.line
    merged.key_lines = {}
    for source, mark in frame.merges:
        sources = source if isinstance(source, list) else [source]
        for item in sources:
            if not isinstance(item, dict):
                raise ConstructorError("while constructing a mapping", None,
                                       "expected a mapping or list of mappings for merging, but found "
                                       f"{type(item).__name__}", mark)
            lines = getattr(item, "key_lines", {})
            for key, value in item.items():
                if key not in merged:
                    merged[key] = value
                    merged.key_lines[str(key)] = lines.get(str(key), mark.line + 1)
    merged.update(explicit)
    merged.key_lines.update(explicit.key_lines)
    frame.value = merged
