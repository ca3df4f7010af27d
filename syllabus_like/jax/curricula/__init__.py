"""Functional curricula: ``init`` / ``sample`` / ``update`` / ``probabilities`` over an explicit state pytree.

One curriculum per module (:mod:`.constant`, :mod:`.domain_randomization`,
:mod:`.sequential`, :mod:`.prioritized_level_replay`, :mod:`.learning_progress`),
the base class and episode batch they share (:mod:`.base`, :mod:`.episodes`),
and their sampling and scoring helpers (:mod:`.sampling`, :mod:`.threefry`,
:mod:`.return_window`, :mod:`.level_scores`). Import the public names from
:mod:`syllabus_like.jax`.
"""
