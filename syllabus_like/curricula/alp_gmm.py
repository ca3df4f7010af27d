"""ALP-GMM: absolute learning progress with a Gaussian mixture (Portelas et al., CoRL 2019).

For continuous task spaces, where no per-task table can be kept. Every
finished episode on task ``tau`` with outcome ``r`` (its return, or its
success) gets an *absolute learning progress*::

    ALP(tau) = | r - r_old |

where ``r_old`` is the outcome of the nearest task played before (nearest in
the task space scaled to the unit cube). A Gaussian mixture is fitted to the
points ``(tau, ALP)`` of the last ``fit_rate`` episodes, every ``fit_rate``
episodes, trying 2 .. ``max_components`` components and keeping the one with
the lowest AIC. A task is then drawn by picking a component with probability
proportional to its mean ALP and sampling the task dimensions of that
Gaussian (clipped to the space); a share ``random_task_ratio`` of draws stays
uniform over the space, to notice new progress elsewhere (the paper's 20 %).
Until the first fit (``bootstrap_episodes`` episodes, by default
``fit_rate``) every task is drawn uniformly: the random bootstrap phase.

Task spaces: a ``BoxTaskSpace``, or a ``TupleTaskSpace`` / ``DictTaskSpace``
whose members are all ``BoxTaskSpace``. The mixture is scikit-learn's
``GaussianMixture`` (the ``alpgmm`` extra: ``pip install 'syllabus-like[alpgmm]'``),
seeded from the curriculum's own generator; the fitted parameters are kept as
arrays, so :meth:`ALPGMM.state_dict` holds no scikit-learn object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

import numpy as np

from syllabus_like.curricula.base import Curriculum
from syllabus_like.curricula.feedback import check_fraction
from syllabus_like.curricula.state_checks import checked_array
from syllabus_like.task_space import BoxTaskSpace, DictTaskSpace, TaskSpace, TupleTaskSpace
from syllabus_like.validation import check_positive_int

__all__ = ["ALPGMM"]


def _gaussian_mixture() -> Any:
    try:
        from sklearn.mixture import GaussianMixture
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "ALPGMM fits its Gaussian mixture with scikit-learn, which is not installed: "
            "pip install 'syllabus-like[alpgmm]'"
        ) from error
    return GaussianMixture


def _boxes(task_space: TaskSpace) -> list[tuple[Any, BoxTaskSpace]]:
    """The Box members of ``task_space`` with their keys (None for a lone Box); ValueError for other spaces."""
    if isinstance(task_space, BoxTaskSpace):
        return [(None, task_space)]
    members: list[tuple[Any, TaskSpace]]
    if isinstance(task_space, TupleTaskSpace):
        members = list(enumerate(task_space.spaces))
    elif isinstance(task_space, DictTaskSpace):
        members = list(task_space.spaces.items())
    else:
        members = []
    if not members or not all(isinstance(space, BoxTaskSpace) for _, space in members):
        raise ValueError(
            "ALPGMM needs a BoxTaskSpace, or a TupleTaskSpace / DictTaskSpace of BoxTaskSpaces; "
            f"got {task_space!r} (for finite task spaces use LearningProgress, Learnability or PrioritizedLevelReplay)"
        )
    return cast(list[tuple[Any, BoxTaskSpace]], members)  # all Boxes, checked above


class ALPGMM(Curriculum):
    """Absolute-learning-progress Gaussian-mixture teacher over a continuous task space.

    Args:
        task_space: a Box, or a Tuple / Dict of Boxes.
        fit_rate: episodes between mixture fits, and the number of recent episodes fitted.
        max_components: the largest mixture tried (from 2 up).
        random_task_ratio: share of draws uniform over the space after the bootstrap, in [0, 1].
        bootstrap_episodes: episodes of uniform draws before the first fit (default ``fit_rate``).
        outcome: what an episode achieved: its ``"return"`` or its ``"progress"`` (success).
        outcome_range: ``(low, high)`` to scale outcomes to [0, 1] by; default: the range seen so far.
        seed: seed of the curriculum's generator (which also seeds every fit).
    """

    def __init__(
        self,
        task_space: TaskSpace,
        *,
        fit_rate: int = 250,
        max_components: int = 10,
        random_task_ratio: float = 0.2,
        bootstrap_episodes: int | None = None,
        outcome: Literal["return", "progress"] = "return",
        outcome_range: tuple[float, float] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(task_space, seed=seed)
        boxes = _boxes(task_space)
        _gaussian_mixture()  # the missing extra is reported at construction, not at the first fit
        self.fit_rate = check_positive_int("fit_rate", fit_rate)
        if check_positive_int("max_components", max_components) < 2:
            raise ValueError(f"max_components must be >= 2, got {max_components!r}")
        self.max_components = max_components
        self.random_task_ratio = check_fraction("random_task_ratio", random_task_ratio)
        self.bootstrap_episodes = (
            self.fit_rate
            if bootstrap_episodes is None
            else check_positive_int("bootstrap_episodes", bootstrap_episodes)
        )
        if outcome not in ("return", "progress"):
            raise ValueError(f"outcome must be 'return' or 'progress', got {outcome!r}")
        self.outcome = outcome
        if outcome_range is not None:
            low, high = (float(bound) for bound in outcome_range)
            if not high > low:
                raise ValueError(f"outcome_range must be (low, high) with high > low, got {outcome_range!r}")
            outcome_range = (low, high)
        self.outcome_range = outcome_range
        self._boxes = boxes
        self._low = np.concatenate([box.low.ravel() for _, box in boxes]).astype(np.float64)
        box_high = np.concatenate([box.high.ravel() for _, box in boxes]).astype(np.float64)
        self._width = np.where(box_high > self._low, box_high - self._low, 1.0)
        self.dimensions = len(self._low)
        # Every task played (scaled to the unit cube), its raw outcome and ALP: the first
        # ``_episodes`` rows of buffers that double when full.
        self._task_buffer = np.zeros((64, self.dimensions))
        self._outcome_buffer = np.zeros(64)
        self._alp_buffer = np.zeros(64)
        self._seen_range = [np.inf, -np.inf]
        self._episodes = 0
        self._mixture: dict[str, np.ndarray] | None = None  # weights, means, covariances, alps

    # ------------------------------------------------------- task <-> vector
    def _to_unit(self, task: Any) -> np.ndarray:
        if self._boxes[0][0] is None:
            flat = np.asarray(task, np.float64).ravel()
        else:
            flat = np.concatenate([np.asarray(task[key], np.float64).ravel() for key, _ in self._boxes])
        return (flat - self._low) / self._width

    def _from_unit(self, unit: np.ndarray) -> Any:
        flat = np.clip(self._low + np.clip(unit, 0.0, 1.0) * self._width, self._low, self._low + self._width)
        parts, start = [], 0
        for _, box in self._boxes:
            size = int(np.prod(box.shape))
            parts.append(np.clip(flat[start : start + size].reshape(box.shape), box.low, box.high))
            start += size
        if self._boxes[0][0] is None:
            return parts[0]
        if isinstance(self.task_space, DictTaskSpace):
            return {key: part for (key, _), part in zip(self._boxes, parts, strict=False)}
        return tuple(parts)

    # --------------------------------------------------------------- sampling
    def _sample(self, k: int) -> list[Any]:
        units = self._rng.random((k, self.dimensions))
        mixture = self._mixture
        if mixture is not None:
            from_mixture = self._rng.random(k) >= self.random_task_ratio
            count = int(from_mixture.sum())
            if count:
                alps = np.maximum(mixture["alps"], 0.0)
                chances = alps / alps.sum() if alps.sum() > 0 else mixture["weights"] / mixture["weights"].sum()
                components = self._rng.choice(len(chances), size=count, p=chances)
                units[from_mixture] = [
                    self._rng.multivariate_normal(
                        mixture["means"][c, :-1], mixture["covariances"][c, :-1, :-1], method="eigh"
                    )
                    for c in components
                ]
        return [self.task_space.encode(self._from_unit(unit)) for unit in units]

    # ---------------------------------------------------------------- updates
    def update_on_episode(
        self,
        episode_return: float,
        length: int,
        task: Any,
        progress: float = 0.0,
        env_id: int | None = None,
        score: float | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> None:
        """Record the episode's ALP against its nearest predecessor; refit every ``fit_rate`` episodes.

        ``metrics`` is accepted for the base class's contract and ignored.
        """
        self.task_space.encode(task)  # TaskSpaceError for a task outside the space
        unit = self._to_unit(task)
        outcome = float(episode_return if self.outcome == "return" else progress)
        if not np.isfinite(outcome):
            raise ValueError(f"ALPGMM needs a finite episode {self.outcome}, got {outcome!r} for task {task!r}")
        self._seen_range = [min(self._seen_range[0], outcome), max(self._seen_range[1], outcome)]
        if self._episodes:
            nearest = int(np.argmin(np.sum((self._tasks - unit) ** 2, axis=1)))
            alp = abs(self._scaled(outcome) - self._scaled(float(self._outcomes[nearest])))
        else:
            alp = 0.0
        if self._episodes == len(self._alp_buffer):
            self._task_buffer = np.concatenate([self._task_buffer, np.zeros_like(self._task_buffer)])
            self._outcome_buffer = np.concatenate([self._outcome_buffer, np.zeros_like(self._outcome_buffer)])
            self._alp_buffer = np.concatenate([self._alp_buffer, np.zeros_like(self._alp_buffer)])
        self._task_buffer[self._episodes] = unit
        self._outcome_buffer[self._episodes] = outcome
        self._alp_buffer[self._episodes] = alp
        self._episodes += 1
        if (
            self._episodes >= self.bootstrap_episodes
            and (self._episodes - self.bootstrap_episodes) % self.fit_rate == 0
        ):
            self._fit()

    @property
    def _tasks(self) -> np.ndarray:
        return self._task_buffer[: self._episodes]

    @property
    def _outcomes(self) -> np.ndarray:
        return self._outcome_buffer[: self._episodes]

    @property
    def _alps(self) -> np.ndarray:
        return self._alp_buffer[: self._episodes]

    def _scaled(self, outcome: float) -> float:
        low, high = self.outcome_range if self.outcome_range is not None else self._seen_range
        return (outcome - low) / (high - low) if high > low else 0.0

    def _fit(self) -> None:
        """Fit mixtures of 2 .. max_components Gaussians to the recent (task, ALP) points; keep the best AIC."""
        points = np.column_stack([self._tasks, self._alps])[-self.fit_rate :]
        mixture_class = _gaussian_mixture()
        from threadpoolctl import threadpool_limits  # a scikit-learn dependency

        best, best_aic = None, np.inf
        # The matrices are tiny (a few dimensions): a multithreaded BLAS only adds overhead, a lot of
        # it on a busy machine, so the fits run on one thread (restored afterwards).
        with threadpool_limits(limits=1):
            for components in range(2, min(self.max_components, len(points)) + 1):
                model = mixture_class(
                    n_components=components,
                    covariance_type="full",
                    reg_covar=1e-6,
                    random_state=int(self._rng.integers(2**31 - 1)),
                ).fit(points)
                aic = model.aic(points)
                if aic < best_aic:
                    best, best_aic = model, aic
        if best is not None:
            self._mixture = {
                "weights": np.asarray(best.weights_, np.float64),
                "means": np.asarray(best.means_, np.float64),
                "covariances": np.asarray(best.covariances_, np.float64),
                "alps": np.asarray(best.means_[:, -1], np.float64),
            }

    # -------------------------------------------------------------- reporting
    def metrics(self) -> dict[str, float]:
        recent = self._alps[-self.fit_rate :]
        return {
            "episodes": float(self._episodes),
            "bootstrap": float(self._mixture is None),
            "mean_alp": float(recent.mean()) if len(recent) else 0.0,
            "components": float(len(self._mixture["weights"])) if self._mixture is not None else 0.0,
        }

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            tasks=self._tasks.copy(),
            outcomes=self._outcomes.copy(),
            alps=self._alps.copy(),
            seen_range=list(self._seen_range),
            mixture=None if self._mixture is None else {name: a.copy() for name, a in self._mixture.items()},
        )
        return state

    def _check_state(self, state: Any) -> dict[str, Any]:
        checked = super()._check_state(state)
        dimensions = self.dimensions
        tasks = state["tasks"]
        if isinstance(tasks, (list, np.ndarray)) and np.size(tasks) == 0:
            tasks = np.zeros((0, dimensions))  # no episodes yet: any empty array
        tasks = checked_array(
            "tasks", tasks, (None, dimensions), finite=False, why=f"a row per episode, {dimensions} dimensions"
        )
        # The tasks scaled to the unit cube (NaN only where the space is too wide for its width to be a float).
        outside = (tasks < 0.0) | (tasks > 1.0) | (np.isnan(tasks) & np.isfinite(self._width))
        if outside.any():
            row = int(np.flatnonzero(outside.any(axis=1))[0])
            raise ValueError(
                f"state field 'tasks' must hold the played tasks scaled to the unit cube [0, 1]^{dimensions}, "
                f"row {row} is {tasks[row].tolist()!r:.80}"
            )
        episodes = len(tasks)
        per_task = f"one per row of 'tasks', {episodes} episodes"
        outcomes = checked_array("outcomes", state["outcomes"], (episodes,), why=per_task)
        alps = checked_array("alps", state["alps"], (episodes,), why=per_task)
        if (alps < 0.0).any():
            raise ValueError(
                f"state field 'alps' must hold absolute learning progresses (>= 0), got {float(alps.min())!r}"
            )
        seen_range = state["seen_range"]
        expected = [float(outcomes.min()), float(outcomes.max())] if episodes else [np.inf, -np.inf]
        if (
            not isinstance(seen_range, list)
            or len(seen_range) != 2
            or not all(isinstance(bound, float) for bound in seen_range)
            or [float(bound) for bound in seen_range] != expected
        ):
            raise ValueError(
                f"state field 'seen_range' must be [lowest outcome, highest outcome] of 'outcomes', {expected!r}, "
                f"got {seen_range!r:.80}"
            )
        mixture = state["mixture"]
        if mixture is not None:
            names = ["alps", "covariances", "means", "weights"]
            if not isinstance(mixture, dict) or sorted(mixture) != names:
                raise ValueError(f"state field 'mixture' must be None or a dict of arrays {names}, got {mixture!r:.80}")
            weights = checked_array("mixture['weights']", mixture["weights"], (None,))
            components, size = len(weights), dimensions + 1
            if components == 0 or (weights < 0.0).any() or not weights.sum() > 0.0:
                raise ValueError(
                    f"state field \"mixture['weights']\" must hold at least one non-negative weight, "
                    f"summing to more than 0, got {weights.tolist()!r:.80}"
                )
            per_weight = f"one per component of \"mixture['weights']\", {size} = 'tasks' dimensions + ALP"
            means = checked_array("mixture['means']", mixture["means"], (components, size), why=per_weight)
            covariances = checked_array(
                "mixture['covariances']", mixture["covariances"], (components, size, size), why=per_weight
            )
            for index, covariance in enumerate(covariances):
                eigenvalues = np.linalg.eigvalsh(covariance)
                scale = max(1.0, float(np.abs(eigenvalues).max()))
                if not np.allclose(covariance, covariance.T, rtol=1e-8, atol=1e-12 * scale) or (
                    eigenvalues.min() < -1e-8 * scale
                ):
                    raise ValueError(
                        f"state field \"mixture['covariances']\": covariance {index} is not symmetric "
                        f"positive semi-definite (eigenvalues {eigenvalues.tolist()!r:.80})"
                    )
            mixture_alps = checked_array("mixture['alps']", mixture["alps"], (components,), why=per_weight)
            if not np.array_equal(mixture_alps, means[:, -1]):
                raise ValueError(
                    f"state field \"mixture['alps']\" must be the components' mean ALPs, the last column of "
                    f"\"mixture['means']\" ({means[:, -1].tolist()!r:.80}), got {mixture_alps.tolist()!r:.80}"
                )
            mixture = {"weights": weights, "means": means, "covariances": covariances, "alps": mixture_alps}
        checked.update(
            tasks=tasks, outcomes=outcomes, alps=alps, seen_range=[float(b) for b in seen_range], mixture=mixture
        )
        return checked

    def _restore_state(self, checked: dict[str, Any]) -> None:
        super()._restore_state(checked)
        tasks = checked["tasks"]
        self._episodes = len(tasks)
        capacity = max(64, len(tasks))
        self._task_buffer = np.zeros((capacity, self.dimensions))
        self._task_buffer[: len(tasks)] = tasks
        self._outcome_buffer = np.zeros(capacity)
        self._outcome_buffer[: len(tasks)] = checked["outcomes"]
        self._alp_buffer = np.zeros(capacity)
        self._alp_buffer[: len(tasks)] = checked["alps"]
        self._seen_range = checked["seen_range"]
        self._mixture = checked["mixture"]
