"""Reading content YAML with line numbers: every mapping records its own line and the line of each key."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bot.content.problems import Problem

LINE_KEY = "__line__"
LINES_KEY = "__lines__"
BOOKKEEPING = (LINE_KEY, LINES_KEY)


class LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader that records the line of each mapping and of each of its keys (and refuses duplicate
    keys). libyaml's parser when PyYAML has it (its wheels do): the content loads in a third of the time,
    which is most of `chonnghe ask`'s start-up."""


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping: dict[Any, Any] = {}
    lines: dict[Any, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping and isinstance(key, str):
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[key] = key_node.start_mark.line + 1
    mapping[LINE_KEY] = node.start_mark.line + 1
    mapping[LINES_KEY] = lines
    return mapping


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path, rel: str, problems: list[Problem]) -> Any:
    """The parsed file (mappings carry their lines), or None after appending why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(rel, 0, f"cannot read file: {exc}"))
        return None
    try:
        return yaml.load(text, Loader=LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 0
        problem = getattr(exc, "problem", None) or str(exc)
        problems.append(Problem(rel, line, f"YAML error: {problem}"))
        return None


def strip(value: Any) -> Any:
    """Plain data without the line bookkeeping."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in BOOKKEEPING}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def line_of(item: Any, key: Any = None) -> int:
    """The line of `key` in a mapping read by LineLoader (the mapping's own line without a key or when the
    key is absent)."""
    if not isinstance(item, dict):
        return 0
    own = item.get(LINE_KEY, 0)
    return own if key is None else item.get(LINES_KEY, {}).get(key, own)


def line_at(data: Any, loc: Sequence[Any], fallback: int = 0) -> int:
    """The line of the value at path `loc` (keys and list indexes) under `data`: the deepest key or list
    item that exists, so a missing key points at the mapping that lacks it."""
    line = line_of(data) or fallback
    current = data
    for step in loc:
        if isinstance(current, dict) and step in current:
            line = line_of(current, step)
            current = current[step]
        elif isinstance(current, list) and isinstance(step, int) and 0 <= step < len(current):
            current = current[step]
            line = line_of(current) or line
        else:
            break
    return line
