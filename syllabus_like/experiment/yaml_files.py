"""Reading and writing the experiment layer's YAML, with ``$variables`` and academia's file suffixes.

A string value that is exactly ``$name`` becomes the variable's value (any
YAML type: ``max_episodes: $episodes`` stays a number); ``$name`` or
``${name}`` inside a longer string is replaced by its text; ``$$`` is a
literal ``$``. An unknown variable is a ValueError naming it and the
variables given. Keys are never substituted.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["read_yaml", "substitute_variables", "with_suffix", "write_yaml"]

_WHOLE_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def with_suffix(path: str | os.PathLike, suffix: str) -> str:
    """``path`` with ``suffix`` (e.g. ``.task.yml``) appended unless it already ends in ``.yml`` or ``.yaml``."""
    path = os.fspath(path)
    return path if path.endswith((".yml", ".yaml")) else path + suffix


def read_yaml(path: str | os.PathLike) -> Any:
    """The YAML document at ``path`` (safe loader: plain data only)."""
    with open(path, encoding="utf-8") as file:
        return yaml.safe_load(file)


def write_yaml(data: Any, path: str | os.PathLike) -> str:
    """Write ``data`` as block-style YAML (key order kept) and return the absolute path."""
    path = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        yaml.safe_dump(data, file, sort_keys=False, default_flow_style=False)
    return path


def substitute_variables(data: Any, variables: Mapping[str, Any]) -> Any:
    """A copy of ``data`` with every ``$name`` in its string values filled from ``variables``."""
    if isinstance(data, str):
        return _substitute_string(data, variables)
    if isinstance(data, Mapping):
        return {key: substitute_variables(value, variables) for key, value in data.items()}
    if isinstance(data, list):
        return [substitute_variables(item, variables) for item in data]
    return data


def _substitute_string(text: str, variables: Mapping[str, Any]) -> Any:
    if "$" not in text:
        return text
    whole = _WHOLE_VARIABLE.fullmatch(text)
    if whole is not None:
        return _lookup(whole.group(1) or whole.group(2), variables)
    template = string.Template(text)
    for name in template.get_identifiers():
        _lookup(name, variables)
    try:
        return template.substitute({name: str(value) for name, value in variables.items()})
    except ValueError as error:  # a lone "$" not followed by a name
        raise ValueError(f"bad variable reference in {text!r}: {error} (write $$ for a literal $)") from None


def _lookup(name: str, variables: Mapping[str, Any]) -> Any:
    if name not in variables:
        given = ", ".join(sorted(variables)) or "none"
        raise ValueError(f"unknown variable ${name}; variables given: {given}")
    return variables[name]
