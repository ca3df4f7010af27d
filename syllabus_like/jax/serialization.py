"""Save and restore curriculum states (any pytree of arrays, PRNG keys included).

The format is a numpy ``.npz`` archive (no pickle): one array per leaf, plus
a JSON header with each leaf's tree path and, for typed PRNG keys
(``jax.random.key``), the key implementation. Loading takes a *template*
pytree of the same structure (e.g. ``curriculum.init(key)``), checks every
path, shape and dtype against it, and rebuilds the tree::

    blob = state_to_bytes((state, key))
    state, key = state_from_bytes(blob, like=(curriculum.init(jax.random.key(0)), jax.random.key(0)))

A restored ``(state, key)`` continues exactly as the original would have.

Every way a blob can be wrong (not an archive, a corrupted byte, a
hand-made header, leaves that do not match the template) raises
``ValueError``. A state can also match the template's shapes and still not
belong to the curriculum (a 5-stage SequentialCurriculum's state loaded into
a 2-stage one). Give the curriculum itself in place of the template and its
state is checked too (:meth:`~syllabus_like.jax.AbstractCurriculum.validate_state`)::

    state = load_state("state.npz", curriculum)  # ValueError naming the field for a foreign state

For a larger tree, pass ``check=`` a function that raises ``ValueError`` for
one that does not belong, e.g. ``lambda tree: curriculum.validate_state(tree[0])``.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar, Union

import jax
import jax.numpy as jnp
import numpy as np

from syllabus_like.jax.curricula.base import AbstractCurriculum
from syllabus_like.jax.curricula.state_checks import check_sequential_state

__all__ = ["check_sequential_state", "load_state", "save_state", "state_from_bytes", "state_to_bytes"]

Tree = TypeVar("Tree")
FileLike = Union[str, "os.PathLike[str]", BinaryIO]
_HEADER = "__syllabus_like_header__"
_FORMAT = "syllabus_like.jax.state/1"


def _is_key(leaf: Any) -> bool:
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _leaves(tree: Any) -> list[tuple[str, Any]]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(jax.tree_util.keystr(path), leaf) for path, leaf in flat]


def state_to_bytes(tree: Any) -> bytes:
    """Serialise a pytree of arrays (and PRNG keys) to bytes."""
    header: list[dict[str, str]] = []
    arrays: dict[str, np.ndarray] = {}
    for index, (path, leaf) in enumerate(_leaves(tree)):
        if _is_key(leaf):
            arrays[f"leaf{index}"] = np.asarray(jax.random.key_data(leaf))
            header.append({"path": path, "kind": "key", "impl": str(jax.random.key_impl(leaf))})
        else:
            try:
                arrays[f"leaf{index}"] = np.asarray(leaf)
            except Exception as error:  # noqa: BLE001 - report which leaf cannot be stored
                raise TypeError(f"cannot serialise leaf {path} of type {type(leaf).__name__}: {error}") from error
            if arrays[f"leaf{index}"].dtype == object:
                raise TypeError(f"cannot serialise leaf {path}: {type(leaf).__name__} is not an array")
            header.append({"path": path, "kind": "array"})
    arrays[_HEADER] = np.asarray(json.dumps({"format": _FORMAT, "leaves": header}))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _read_archive(data: bytes) -> tuple[list[dict[str, str]], list[np.ndarray]]:
    """The header's leaf entries and every leaf's array; ValueError for anything but a well-formed archive."""
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        header = json.loads(str(archive[_HEADER][()]))
    except Exception as error:  # noqa: BLE001 - any failure means "not our format"
        raise ValueError(f"not a saved curriculum state ({type(error).__name__}: {error})") from error
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        found = header.get("format") if isinstance(header, dict) else header
        raise ValueError(f"unknown state format {found!r:.80}, expected {_FORMAT!r}")
    entries = header.get("leaves")
    if not isinstance(entries, list):
        raise ValueError(f"the state's header has no list of leaves, got {entries!r:.80}")
    for index, entry in enumerate(entries):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("path"), str)
            or entry.get("kind") not in ("array", "key")
            or (entry["kind"] == "key" and not isinstance(entry.get("impl"), str))
        ):
            raise ValueError(f"the state's header entry for leaf {index} is malformed: {entry!r:.80}")
    try:  # reading a leaf decompresses and CRC-checks it: a corrupted byte shows here
        arrays = [archive[f"leaf{index}"] for index in range(len(entries))]
    except Exception as error:  # noqa: BLE001 - BadZipFile, zlib.error, KeyError, ...
        raise ValueError(f"the saved state is damaged ({type(error).__name__}: {error})") from error
    return entries, arrays


def state_from_bytes(data: bytes, like: Any, *, check: Callable[[Any], Any] | None = None) -> Any:
    """Rebuild the pytree saved by :func:`state_to_bytes`, shaped like ``like``.

    ``like`` is a template pytree, or a JAX curriculum: then the template is
    its ``init`` state and the loaded state goes through its
    ``validate_state``, which refuses a state that cannot be one of its own
    and rebuilds the tables derived from it. ``check``, if given, is called
    with the rebuilt tree and raises ``ValueError`` when it does not belong
    where it is loaded.

    Raises:
        ValueError: when the data is not such an archive or is damaged, its
            leaves do not match ``like`` (paths, shapes, dtypes, key kinds),
            naming the first mismatch, or ``check`` refuses the tree.
    """
    curriculum = like if isinstance(like, AbstractCurriculum) else None
    if curriculum is not None:
        like = curriculum.init(jax.random.key(0))
    saved, arrays = _read_archive(data)
    expected = _leaves(like)
    if len(saved) != len(expected):
        raise ValueError(f"saved state has {len(saved)} leaves, the template has {len(expected)}")

    restored = []
    for index, ((path, template), entry, value) in enumerate(zip(expected, saved, arrays, strict=False)):
        if entry["path"] != path:
            raise ValueError(f"leaf {index}: saved path {entry['path']} does not match template path {path}")
        if _is_key(template):
            if entry["kind"] != "key":
                raise ValueError(f"leaf {path}: template is a PRNG key, saved leaf is a plain array")
            try:
                key = jax.random.wrap_key_data(jnp.asarray(value), impl=entry["impl"])
            except Exception as error:  # noqa: BLE001 - an unknown impl or key data of the wrong shape
                raise ValueError(f"leaf {path}: not a {entry['impl']!r:.40} key ({error})") from error
            if key.shape != template.shape or str(jax.random.key_impl(template)) != entry["impl"]:
                raise ValueError(
                    f"leaf {path}: saved key {entry['impl']}{list(key.shape)} does not match template "
                    f"{jax.random.key_impl(template)}{list(template.shape)}"
                )
            restored.append(key)
            continue
        if entry["kind"] != "array":
            raise ValueError(f"leaf {path}: saved leaf is a PRNG key, template is a plain array")
        template_array = np.asarray(template)
        if value.shape != template_array.shape or value.dtype != template_array.dtype:
            raise ValueError(
                f"leaf {path}: saved {value.dtype}{list(value.shape)} does not match template "
                f"{template_array.dtype}{list(template_array.shape)}"
            )
        restored.append(jnp.asarray(value))
    tree = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(like), restored)
    if curriculum is not None:
        tree = curriculum.validate_state(tree)
    if check is not None:
        check(tree)
    return tree


def save_state(file: FileLike, tree: Any) -> None:
    """Write :func:`state_to_bytes` of ``tree`` to a path or a binary file object."""
    data = state_to_bytes(tree)
    if hasattr(file, "write"):
        file.write(data)  # type: ignore[union-attr]
    else:
        with open(file, "wb") as handle:  # type: ignore[arg-type]
            handle.write(data)


def load_state(file: FileLike, like: Any, *, check: Callable[[Any], Any] | None = None) -> Any:
    """Read a state written by :func:`save_state`; see :func:`state_from_bytes`."""
    if hasattr(file, "read"):
        data = file.read()  # type: ignore[union-attr]
    else:
        with open(file, "rb") as handle:  # type: ignore[arg-type]
            data = handle.read()
    return state_from_bytes(data, like, check=check)
