"""Plug curricula into third-party trainers (``syllabus_like.integrations``), one module per trainer.

* :mod:`syllabus_like.integrations.sb3`: Stable-Baselines3 (extra ``sb3``):
  ``make_curriculum_vec_env``, ``CurriculumCallback``;
* :mod:`syllabus_like.integrations.cleanrl`: helpers for hand-written loops over
  Gymnasium vector envs (no extra);
* :mod:`syllabus_like.integrations.rllib`: RLlib's new API stack (extra ``rllib``):
  ``connect_curriculum``, ``CurriculumCallback``;
* :mod:`syllabus_like.integrations.scores`: per-episode scores (positive value
  loss, MaxMC) from a trainer's rollouts, which the SB3 callback and the
  CleanRL helpers report for the curricula that need them (no extra).

Importing this package imports no trainer; each module imports its own, and
raises an ImportError naming the extra when it is missing.
"""
