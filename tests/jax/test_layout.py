"""The JAX half's shape: two subpackages, no import cycle, no private name imported across modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = [ROOT / "syllabus_like"]


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, names)`` for every ``from syllabus_like... import names`` in ``path`` (runtime imports)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("syllabus_like"):
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def _library_files() -> list[Path]:
    return [path for folder in LIBRARY for path in folder.rglob("*.py")]


def test_no_module_imports_a_private_name_from_another_module() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: from {module} import {name}"
        for path in _library_files()
        for module, names in _imports(path)
        for name in names
        if name.startswith("_")
    ]
    assert offenders == []


def test_the_jax_modules_import_each_other_without_a_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for path in (ROOT / "syllabus_like" / "jax").rglob("*.py"):
        name = _module_name(path)
        graph[name] = {module for module, _ in _imports(path) if module.startswith("syllabus_like.jax.")}
    # algorithm and callback no longer import each other (the states they share live in training.state).
    assert "syllabus_like.jax.training.algorithm" not in graph["syllabus_like.jax.training.callback"]
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in done or module not in graph:
            return
        if module in visiting:
            pytest.fail(f"import cycle: {' -> '.join(path + (module,))}")
        visiting.add(module)
        for target in graph[module]:
            visit(target, path + (module,))
        visiting.discard(module)
        done.add(module)

    for module in graph:
        visit(module, ())


def test_the_jax_half_is_split_into_curricula_and_training() -> None:
    jax_folder = ROOT / "syllabus_like" / "jax"
    assert {"base.py", "prioritized_level_replay.py", "sequential.py"} <= {
        p.name for p in (jax_folder / "curricula").glob("*.py")
    }
    assert {"algorithm.py", "callback.py", "ppo.py", "schedules.py", "field_curricula.py", "curriculum_env.py"} <= {
        p.name for p in (jax_folder / "training").glob("*.py")
    }
    assert not (jax_folder / "curriculum.py").exists()  # the grab-bag is split by concept


def test_every_public_name_of_before_the_split_is_importable_from_syllabus_like_jax() -> None:
    import syllabus_like.jax as jax_side

    before = [
        "AbstractActorCritic",
        "AbstractAdaptiveCurriculum",
        "AbstractAlgorithm",
        "AbstractAlgorithmState",
        "AbstractCallback",
        "AbstractCurriculum",
        "AbstractEnvironment",
        "AbstractIterationCallback",
        "AbstractSchedule",
        "AbstractStatelessCallback",
        "AbstractStepCallback",
        "AbstractStepState",
        "AbstractTrainingCallback",
        "AdaptiveState",
        "CallbackList",
        "CompiledCondition",
        "Constant",
        "CosineSchedule",
        "CurriculumCallback",
        "CurriculumEnv",
        "DomainRandomization",
        "EmptyState",
        "EpisodeAccumulator",
        "EpisodeBatch",
        "IterationContext",
        "LearningProgress",
        "LearningProgressState",
        "LevelCurriculum",
        "LevelState",
        "LinearSchedule",
        "MLPActorCritic",
        "PLRState",
        "PPO",
        "PPOState",
        "PPOStepState",
        "PrioritizedLevelReplay",
        "ProgressCallback",
        "ProgressReporter",
        "ResetContext",
        "RolloutOutput",
        "RolloutState",
        "SEQUENTIAL_METRICS",
        "ScheduledCurriculum",
        "SequentialCurriculum",
        "SequentialState",
        "StepContext",
        "StepSchedule",
        "TaskTable",
        "TrainingContext",
        "categorical_from_cdf",
        "compile_condition",
        "cosine_schedule",
        "cumulative_weights",
        "episode_means",
        "linear_schedule",
        "load_state",
        "max_mc_scores",
        "positive_value_loss",
        "random_policy",
        "rollout",
        "rollout_init",
        "sample_categorical",
        "save_state",
        "state_from_bytes",
        "state_to_bytes",
        "step_schedule",
    ]
    missing = [name for name in before if name not in jax_side.__all__ or not hasattr(jax_side, name)]
    assert missing == []
