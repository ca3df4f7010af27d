"""The experiment layer: learning tasks with stop conditions, run in sequence, declared in YAML.

``from syllabus_like.experiment import Agent, LearningTask, Experiment, LearningStats, LearningStatsAggregator``

This is academia's ``academia.curriculum`` on Gymnasium environments and on
this library's curricula and condition language; ``docs/academia.md`` maps
every academia name to ours. ``Experiment`` is academia's ``Curriculum``
(here ``Curriculum`` is the task sampler).
"""

from syllabus_like.experiment.agent import Agent, LoopOwningAgent, SavableAgent
from syllabus_like.experiment.aggregator import LearningStatsAggregator
from syllabus_like.experiment.episode_statistics import EpisodeStatistics
from syllabus_like.experiment.experiment import Experiment
from syllabus_like.experiment.learning_task import LearningTask
from syllabus_like.experiment.stats import LearningStats
from syllabus_like.experiment.stop_conditions import DEFAULT_STOP_PREDICATES
from syllabus_like.experiment.stop_metrics import STOP_METRICS

__all__ = [
    "DEFAULT_STOP_PREDICATES",
    "STOP_METRICS",
    "Agent",
    "EpisodeStatistics",
    "Experiment",
    "LearningStats",
    "LearningStatsAggregator",
    "LearningTask",
    "LoopOwningAgent",
    "SavableAgent",
]
