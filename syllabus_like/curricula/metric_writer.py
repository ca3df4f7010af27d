"""Send a dict of scalars to whatever logger the user has."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["write_scalars"]


def write_scalars(writer: Any, scalars: Mapping[str, float], step: int | None = None) -> None:
    """Write ``scalars`` to ``writer`` at ``step``.

    ``writer`` may be:

    * an object with ``add_scalar(tag, value, global_step)`` (TensorBoard's
      ``SummaryWriter``, tensorboardX);
    * an object with ``log(dict, step=...)`` (a wandb run, or the wandb module);
    * a callable ``writer(scalars: dict, step)``.
    """
    if hasattr(writer, "add_scalar"):
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, step)
    elif hasattr(writer, "log") and callable(writer.log):
        if step is None:
            writer.log(dict(scalars))
        else:
            writer.log(dict(scalars), step=step)
    elif callable(writer):
        writer(dict(scalars), step)
    else:
        raise TypeError(
            f"cannot log to {writer!r}: expected an object with add_scalar (TensorBoard), "
            "an object with log (wandb), or a callable taking (scalars, step)"
        )
