"""Checks that a loaded state can belong to a curriculum (each curriculum's ``validate_state`` calls one).

A saved state can match a template's shapes and dtypes and still not be a
state of the curriculum it is loaded into: a 5-stage SequentialCurriculum's
state in a 2-stage one, a PLR buffer naming a task twice, a success rate of
7. Each check reads the arrays with numpy (outside ``jit``: loading is a
host-side step), accepts leading batch axes (states vmapped over seeds), and
raises ``ValueError`` naming the first field that is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

__all__ = ["check_plr_state", "check_rates", "check_sequential_state", "per_state"]


def per_state(function: Callable[[Any], Any], state: Any, batch_axes: int) -> Any:
    """``function`` applied to each state of a batch with ``batch_axes`` leading axes (vmapped)."""
    for _ in range(batch_axes):
        function = jax.vmap(function)
    return function(state)


def _rows(array: Any, width: int) -> np.ndarray:
    """``array`` as rows of ``width`` (one per state of a batch)."""
    return np.asarray(array).reshape(-1, width)


def check_rates(name: str, values: Any) -> None:
    """A per-task estimate in [0, 1] (success rates, their moving averages)."""
    values = np.asarray(values, dtype=np.float64)
    if not np.all((values >= 0.0) & (values <= 1.0)):
        bad = values[~((values >= 0.0) & (values <= 1.0))]
        raise ValueError(f"state field {name!r} must hold rates in [0, 1], got {bad.tolist()!r:.80}")


def check_plr_state(num_tasks: int, buffer_size: int, state: Any) -> None:
    """A PrioritizedLevelReplay buffer: distinct levels that are tasks, each found at its slot, finite scores."""
    levels = _rows(state.levels, buffer_size)
    slot_of_task = _rows(state.slot_of_task, num_tasks)
    scores = _rows(state.scores, buffer_size)
    last_played = _rows(state.last_played, buffer_size)
    max_returns = _rows(state.max_returns, buffer_size)
    episode_count = np.asarray(state.episode_count).reshape(-1)
    if np.any((levels < -1) | (levels >= num_tasks)):
        raise ValueError(f"state field 'levels' must hold task ids in [0, {num_tasks}) or -1 (an empty slot)")
    if np.any((slot_of_task < -1) | (slot_of_task >= buffer_size)):
        raise ValueError(f"state field 'slot_of_task' must hold slots in [0, {buffer_size}) or -1 (not buffered)")
    if np.any(episode_count < 0):
        raise ValueError(f"state field 'episode_count' must be non-negative, got {episode_count.tolist()!r:.80}")
    for row in range(levels.shape[0]):
        filled = levels[row] >= 0
        slots = np.flatnonzero(filled)
        buffered = levels[row][slots]
        if len(np.unique(buffered)) != len(buffered):
            raise ValueError("state field 'levels' holds a task in two slots")
        if not np.array_equal(slot_of_task[row][buffered], slots) or np.count_nonzero(slot_of_task[row] >= 0) != len(
            slots
        ):
            raise ValueError("state field 'slot_of_task' does not give each buffered level's slot in 'levels'")
        if not np.all(np.isfinite(scores[row][slots])):
            raise ValueError("state field 'scores' must be finite for every buffered level")
        if np.any((last_played[row][slots] < 0) | (last_played[row][slots] > episode_count[row])):
            raise ValueError("state field 'last_played' must lie in [0, episode_count] for every buffered level")
        if np.any(np.isnan(max_returns[row][slots])):
            raise ValueError("state field 'max_returns' must not be NaN for a buffered level")


def check_sequential_state(curriculum: Any, state: Any) -> None:
    """Raise ``ValueError`` naming the field unless ``state`` can be a state of JAX ``curriculum``.

    ``curriculum`` is a :class:`~syllabus_like.jax.SequentialCurriculum` and
    ``state`` a ``SequentialState`` (leading batch axes allowed). Checked:
    ``stage`` in ``[0, num_stages)``; every counter non-negative; each stage
    counter at most its total; ``num_returns`` at most the buffer size; the
    unused return slots zero; ``mean_return`` the mean of the used ones;
    ``window_counts`` at most the buffer size; ``done`` only on the last stage of a curriculum with a final condition;
    the switch count and the stage history non-negative, stages in range.
    """
    counters = np.asarray(state.counters)
    names = state.COUNTERS
    value = {name: counters[..., index] for index, name in enumerate(names)}
    num_stages = curriculum.num_stages
    if np.any(value["stage"] < 0) or np.any(value["stage"] >= num_stages):
        raise ValueError(f"state field 'stage' must be in [0, {num_stages}), got {value['stage'].tolist()!r:.80}")
    for name in names:
        if np.any(value[name] < 0):
            raise ValueError(f"state field {name!r} must be non-negative, got {value[name].tolist()!r:.80}")
    for name in ("steps", "episodes", "tasks"):
        if np.any(value[name] > value[f"total_{name}"]):
            raise ValueError(f"state field {name!r} exceeds 'total_{name}'")
    returns = np.asarray(state.returns, dtype=np.float64)
    window = returns.shape[-1]
    count = value["num_returns"]
    if np.any(count > window):
        raise ValueError(
            f"state field 'num_returns' must be at most {window} (return_buffer_size), got {count.tolist()!r:.80}"
        )
    used = np.arange(window) >= (window - count[..., None])
    if np.any(np.where(used, 0.0, returns) != 0.0):
        raise ValueError("state field 'returns' has values in slots beyond 'num_returns' (they must be zero)")
    with np.errstate(all="ignore"):
        mean = np.where(count > 0, np.where(used, returns, 0.0).sum(axis=-1) / np.maximum(count, 1), 0.0)
    saved_mean = np.asarray(state.mean_return, dtype=np.float64)
    close = np.isclose(saved_mean, mean, rtol=1e-4, atol=1e-6) | (np.isnan(saved_mean) & np.isnan(mean))
    if not np.all(close):
        raise ValueError(f"state field 'mean_return' ({saved_mean.tolist()!r:.40}) is not the mean of 'returns'")
    window_counts = np.asarray(state.window_counts)
    if np.any(window_counts < 0) or np.any(window_counts > window):
        raise ValueError(
            f"state field 'window_counts' must be in [0, {window}] (return_buffer_size), "
            f"got {window_counts.tolist()!r:.80}"
        )
    done = np.asarray(state.done)
    can_finish = curriculum.has_final_condition
    if np.any(done & ~(can_finish & (value["stage"] == num_stages - 1))):
        raise ValueError(
            "state field 'done' may be True only on the last stage of a curriculum with a condition after it"
        )
    switches = np.asarray(state.num_switches)
    if np.any(switches < 0):
        raise ValueError(f"state field 'num_switches' must be non-negative, got {switches.tolist()!r:.80}")
    history = np.asarray(state.history)
    if np.any(history < 0) or np.any(history[..., 0] >= num_stages):
        raise ValueError(f"state field 'history' must hold stages in [0, {num_stages}) and non-negative counts")
