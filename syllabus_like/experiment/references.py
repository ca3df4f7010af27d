"""Names in YAML that stand for Python objects: ``"package.module:Name"`` or ``"package.module.Name"``.

YAML holds an env class, an agent class or a curriculum class as such a
string; :func:`resolve_reference` imports it and :func:`reference_of` writes
it back. Both spellings are accepted because academia writes the dotted one
(``academia.environments.LavaCrossing``) and entry points write the colon one.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["reference_of", "resolve_reference"]


def resolve_reference(text: str, what: str = "object") -> Any:
    """Import the object ``text`` names; ValueError naming every spelling tried when none resolves."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"{what} must be a non-empty string like 'package.module:Name', got {text!r}")
    attempts: list[tuple[str, str]] = []
    if ":" in text:
        attempts.append(tuple(text.split(":", 1)))  # type: ignore[arg-type]
    else:
        parts = text.split(".")
        # "a.b.C.D": try module a.b.C with attribute D, then module a.b with attribute C.D, ...
        for split in range(len(parts) - 1, 0, -1):
            attempts.append((".".join(parts[:split]), ".".join(parts[split:])))
    tried: list[str] = []
    for module_name, attribute_path in attempts:
        tried.append(f"{module_name}:{attribute_path}")
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            for attribute in attribute_path.split("."):
                target = getattr(target, attribute)
        except AttributeError:
            continue
        return target
    raise ValueError(f"{what} {text!r} names nothing importable; tried {', '.join(tried) or 'no module path'}")


def reference_of(obj: Any, what: str = "object") -> str:
    """``"module:QualName"`` for an importable class or function; ValueError for one that is not (a lambda, a local)."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise ValueError(f"{what} {obj!r} cannot be written to YAML: it is not an importable class or function")
    reference = f"{module}:{qualname}"
    try:
        found = resolve_reference(reference, what)
    except ValueError:
        found = None
    if found is not obj:
        raise ValueError(f"{what} {obj!r} cannot be written to YAML: {reference!r} does not import back to it")
    return reference
