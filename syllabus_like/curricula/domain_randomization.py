"""Uniform sampling over the whole task space."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from syllabus_like.curricula.base import Curriculum
from syllabus_like.curricula.state_checks import checked_spare_uniforms
from syllabus_like.task_space import TaskSpace

__all__ = ["DomainRandomization"]


#: Largest task count drawn as ``floor(u * n)`` from one uniform double ``u``;
#: each task's probability is then exact to within ``n / 2**53`` (< 1e-6 relative).
_FLOAT_DRAW_LIMIT = 2**32

#: Uniform doubles drawn from the generator at a time for single draws.
_UNIFORM_BLOCK = 64


class DomainRandomization(Curriculum):
    """Samples every task uniformly at random (finite spaces) or uniformly over
    the space's volume (spaces with a continuous member), ignoring feedback.

    Finite spaces draw task ``floor(u * n)`` from uniform doubles ``u``. A
    wrapper's reset asks for one task, and one call to the generator costs
    ~0.3 us, as much as all the rest of the draw, so single draws take their
    doubles from a block of :data:`_UNIFORM_BLOCK` drawn at once; larger draws
    use what is left of the block, then draw the rest directly. The doubles
    are the generator's stream in order, so ``sample(1)`` k times equals
    ``sample(k)`` once, and the doubles not used yet are part of
    :meth:`state_dict`.
    """

    def __init__(self, task_space: TaskSpace, *, seed: int | None = None) -> None:
        super().__init__(task_space, seed=seed)
        self._spare_uniforms: list[float] = []  # the next doubles of the stream, last one first
        num_tasks = task_space.num_tasks
        # A single draw decodes its index without the range check: floor(u * n) < n for every
        # double u < 1 and n < 2**53 (round to nearest), so the index is always one of the space's.
        # (Not for a subclass that draws its own way.)
        fast = (
            num_tasks is not None
            and num_tasks <= _FLOAT_DRAW_LIMIT
            and type(self)._sample is DomainRandomization._sample
        )
        self._single_draws = num_tasks if fast else 0
        self._decode_index = task_space._index_decoder()

    def sample(self, k: int = 1) -> list[Any]:
        num_tasks = self._single_draws
        if num_tasks and type(k) is int and k == 1:  # a wrapper's reset (hot path)
            spare = self._spare_uniforms
            if not spare:
                spare.extend(self._rng.random(_UNIFORM_BLOCK).tolist()[::-1])
            return [self._decode_index(int(spare.pop() * num_tasks))]
        return super().sample(k)

    def _uniforms(self, k: int) -> np.ndarray:
        """The next ``k`` uniform doubles of the generator's stream: the spare ones first."""
        spare = self._spare_uniforms
        taken = spare[: -k - 1 : -1]  # the next min(k, len(spare)), in stream order
        del spare[len(spare) - len(taken) :]
        fresh = self._rng.random(k - len(taken))
        return np.concatenate([taken, fresh]) if taken else fresh

    def _sample(self, k: int) -> list[Any]:
        num_tasks = self.task_space.num_tasks
        if num_tasks is not None:
            if num_tasks <= _FLOAT_DRAW_LIMIT:
                return cast(list[int], (self._uniforms(k) * num_tasks).astype(np.int64).tolist())
            return [int(i) for i in self._rng.integers(num_tasks, size=k)]
        return [self.task_space.encode(self.task_space.sample(self._rng)) for _ in range(k)]

    def probabilities(self) -> np.ndarray | None:
        num_tasks = self.task_space.num_tasks
        return None if num_tasks is None else np.full(num_tasks, 1.0 / num_tasks)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["spare_uniforms"] = list(self._spare_uniforms)
        return state

    def _check_state(self, state: Any) -> dict[str, Any]:
        checked = super()._check_state(state)
        checked["spare_uniforms"] = checked_spare_uniforms(state["spare_uniforms"], _UNIFORM_BLOCK)
        return checked

    def _restore_state(self, checked: dict[str, Any]) -> None:
        super()._restore_state(checked)
        self._spare_uniforms = checked["spare_uniforms"]
