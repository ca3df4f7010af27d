"""Save and restore curriculum states (any pytree of arrays, PRNG keys included).

The format is a numpy ``.npz`` archive (no pickle): one array per leaf, plus
a JSON header with each leaf's tree path and, for typed PRNG keys
(``jax.random.key``), the key implementation. Loading takes a *template*
pytree of the same structure (e.g. ``curriculum.init(key)``), checks every
path, shape and dtype against it, and rebuilds the tree::

    blob = state_to_bytes((state, key))
    state, key = state_from_bytes(blob, like=(curriculum.init(jax.random.key(0)), jax.random.key(0)))

A restored ``(state, key)`` continues exactly as the original would have.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any, BinaryIO, TypeVar, Union

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["load_state", "save_state", "state_from_bytes", "state_to_bytes"]

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


def state_from_bytes(data: bytes, like: Tree) -> Tree:
    """Rebuild the pytree saved by :func:`state_to_bytes`, shaped like ``like``.

    Raises:
        ValueError: when the data is not such an archive, or its leaves do not
            match ``like`` (paths, shapes, dtypes, key kinds), naming the first mismatch.
    """
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        header = json.loads(str(archive[_HEADER][()]))
    except Exception as error:  # noqa: BLE001 - any failure means "not our format"
        raise ValueError(f"not a saved curriculum state ({type(error).__name__}: {error})") from error
    if header.get("format") != _FORMAT:
        raise ValueError(f"unknown state format {header.get('format')!r}, expected {_FORMAT!r}")
    saved = header["leaves"]
    expected = _leaves(like)
    if len(saved) != len(expected):
        raise ValueError(f"saved state has {len(saved)} leaves, the template has {len(expected)}")

    restored = []
    for index, ((path, template), entry) in enumerate(zip(expected, saved)):
        if entry["path"] != path:
            raise ValueError(f"leaf {index}: saved path {entry['path']} does not match template path {path}")
        value = archive[f"leaf{index}"]
        if _is_key(template):
            if entry["kind"] != "key":
                raise ValueError(f"leaf {path}: template is a PRNG key, saved leaf is a plain array")
            key = jax.random.wrap_key_data(jnp.asarray(value), impl=entry["impl"])
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
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(like), restored)


def save_state(file: FileLike, tree: Any) -> None:
    """Write :func:`state_to_bytes` of ``tree`` to a path or a binary file object."""
    data = state_to_bytes(tree)
    if hasattr(file, "write"):
        file.write(data)  # type: ignore[union-attr]
    else:
        with open(file, "wb") as handle:  # type: ignore[arg-type]
            handle.write(data)


def load_state(file: FileLike, like: Tree) -> Tree:
    """Read a state written by :func:`save_state`; see :func:`state_from_bytes`."""
    if hasattr(file, "read"):
        data = file.read()  # type: ignore[union-attr]
    else:
        with open(file, "rb") as handle:  # type: ignore[arg-type]
            data = handle.read()
    return state_from_bytes(data, like)
