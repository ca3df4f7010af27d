"""The training API: algorithms, callbacks, PPO, policies, progress, and curricula inside a training run.

:mod:`.state` and :mod:`.callback` hold what an algorithm and its callbacks
share; :mod:`.algorithm` runs them (``learn`` / ``train`` / ``resume``);
:mod:`.ppo` and :mod:`.policy` are the reference algorithm and actor-critic;
:mod:`.progress` reports a run. Curricula that act during training:
:mod:`.schedules` and :mod:`.field_curricula` (a field shared by every
environment) and :mod:`.curriculum_env` (a functional curriculum drawing each
environment's task at its reset). Import the public names from
:mod:`syllabus_like.jax`.
"""
