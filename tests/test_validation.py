"""Shared argument checks name what they were given."""

import pytest

from syllabus_like.validation import check_positive_int


def test_check_positive_int_accepts_and_rejects_with_names():
    assert check_positive_int("n", 3) == 3
    assert check_positive_int("n", 0, allow_zero=True) == 0
    for bad in (0, -2, 1.5, "3", True, None):
        with pytest.raises(ValueError, match=r"^n must be a positive int, got "):
            check_positive_int("n", bad)
    with pytest.raises(ValueError, match=r"^k must be a non-negative int, got -1$"):
        check_positive_int("k", -1, allow_zero=True)
