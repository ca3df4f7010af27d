"""The core stays light: importing syllabus_like pulls in no backend."""

import subprocess
import sys

HEAVY = ("jax", "ray", "torch", "pettingzoo", "sklearn", "matplotlib")


def imported_heavy_modules(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [name for name in result.stdout.strip().split(",") if name]


def test_core_import_pulls_in_no_backend():
    assert imported_heavy_modules("import syllabus_like") == []


def test_wrappers_and_envs_import_pulls_in_no_backend():
    assert imported_heavy_modules("import syllabus_like.wrappers, syllabus_like.envs") == []


def test_public_names_exist():
    import syllabus_like

    for name in (
        "DiscreteTaskSpace",
        "BoxTaskSpace",
        "MultiDiscreteTaskSpace",
        "TupleTaskSpace",
        "DictTaskSpace",
        "TaskSpaceError",
        "parse_condition",
        "ConditionSyntaxError",
        "Curriculum",
        "Constant",
        "DomainRandomization",
        "SequentialCurriculum",
    ):
        assert hasattr(syllabus_like, name), name


def test_jax_public_names_exist():
    import syllabus_like.jax as jax_side

    for name in jax_side.__all__:  # a misspelt or removed export fails here
        assert hasattr(jax_side, name), name
    for name in (  # the names, which must stay exported
        "compile_condition",
        "EpisodeBatch",
        "Constant",
        "DomainRandomization",
        "SequentialCurriculum",
        "PrioritizedLevelReplay",
        "LearningProgress",
        "rollout",
        "AbstractAlgorithm",
        "AbstractAlgorithmState",
        "AbstractStepState",
        "PPO",
        "AbstractCallback",
        "AbstractStatelessCallback",
        "AbstractStepCallback",
        "AbstractIterationCallback",
        "AbstractTrainingCallback",
        "CallbackList",
        "ResetContext",
        "StepContext",
        "IterationContext",
        "TrainingContext",
        "ScheduledCurriculum",
        "AbstractAdaptiveCurriculum",
        "LevelCurriculum",
        "linear_schedule",
        "step_schedule",
        "cosine_schedule",
    ):
        assert name in jax_side.__all__, name
