"""The efficacy suite: automatic curricula against domain randomization on two task families.

Run: ``python benchmarks/efficacy.py [--quick] [--seeds N] [--out DIR]``; the
logic lives in :mod:`syllabus_like.efficacy` (also ``syllabus-like bench efficacy``).
Results of the full suite: ``docs/efficacy.md``.
"""

from __future__ import annotations

import sys

from syllabus_like.efficacy import main

if __name__ == "__main__":
    sys.exit(main())
