"""Finished episodes as fixed-shape arrays with a mask."""

from __future__ import annotations

from collections.abc import Mapping

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

__all__ = ["EpisodeBatch"]


class EpisodeBatch(eqx.Module):
    """A fixed-shape batch of episode reports; ``done`` marks the real ones.

    Inside a jitted rollout the number of episodes that finish is not known
    in advance, so a batch has one entry per (step, env) slot and ``done``
    says which entries are finished episodes; the others are ignored by every
    curriculum. All fields share one shape (any rank); curricula read the
    entries in C order, so a ``[T, B]`` batch is read step by step, and within
    a step env by env.

    Attributes:
        task_id: task of each episode (an index into the curriculum's tasks).
        episode_return: undiscounted return.
        length: number of steps.
        progress: task progress or success in ``[0, 1]`` (e.g. 1.0 on success).
        done: True where the entry is a finished episode.
        score: optional per-episode learning-potential score, e.g. from
            :func:`syllabus_like.jax.positive_value_loss`; required by
            :class:`~syllabus_like.jax.PrioritizedLevelReplay`.
        metrics: optional user metrics, one array per name (same shape as the
            other fields), e.g. ``{"distance": ...}``; read by a
            :class:`~syllabus_like.jax.SequentialCurriculum` that declares those
            names in ``custom_metrics``. ``None`` (the default) carries none.
    """

    task_id: Int[Array, "*shape"]
    episode_return: Float[Array, "*shape"]
    length: Int[Array, "*shape"]
    progress: Float[Array, "*shape"]
    done: Bool[Array, "*shape"]
    score: Float[Array, "*shape"] | None
    metrics: dict[str, Float[Array, "*shape"]] | None

    def __init__(
        self,
        task_id: ArrayLike,
        episode_return: ArrayLike,
        length: ArrayLike,
        progress: ArrayLike | None = None,
        done: ArrayLike | None = None,
        score: ArrayLike | None = None,
        metrics: Mapping[str, ArrayLike] | None = None,
    ) -> None:
        self.task_id = jnp.asarray(task_id, dtype=jnp.int32)
        self.episode_return = jnp.asarray(episode_return, dtype=jnp.float32)
        self.length = jnp.asarray(length, dtype=jnp.int32)
        shape = self.task_id.shape
        self.progress = jnp.zeros(shape, jnp.float32) if progress is None else jnp.asarray(progress, dtype=jnp.float32)
        self.done = jnp.ones(shape, bool) if done is None else jnp.asarray(done, dtype=bool)
        self.score = None if score is None else jnp.asarray(score, dtype=jnp.float32)
        if metrics is not None and not isinstance(metrics, Mapping):
            raise TypeError(f"EpisodeBatch metrics must be a mapping of names to arrays, got {metrics!r}")
        self.metrics = (
            None
            if metrics is None
            else {str(name): jnp.asarray(value, dtype=jnp.float32) for name, value in metrics.items()}
        )

    def __check_init__(self) -> None:
        shapes = {
            name: getattr(self, name).shape
            for name in ("task_id", "episode_return", "length", "progress", "done", "score")
            if getattr(self, name) is not None
        }
        for name, value in (self.metrics or {}).items():
            shapes[f"metrics[{name!r}]"] = value.shape
        if len(set(shapes.values())) != 1:
            raise ValueError(f"every EpisodeBatch field must have the same shape, got {shapes}")

    @property
    def shape(self) -> tuple[int, ...]:
        return self.task_id.shape

    def flatten(self) -> EpisodeBatch:
        """The same entries as a 1-D batch, in reading (C) order."""
        return EpisodeBatch(
            task_id=self.task_id.reshape(-1),
            episode_return=self.episode_return.reshape(-1),
            length=self.length.reshape(-1),
            progress=self.progress.reshape(-1),
            done=self.done.reshape(-1),
            score=None if self.score is None else self.score.reshape(-1),
            metrics=None if self.metrics is None else {name: value.reshape(-1) for name, value in self.metrics.items()},
        )

    @property
    def num_episodes(self) -> Int[Array, ""]:
        """How many entries are finished episodes."""
        return jnp.sum(self.done, dtype=jnp.int32)
