"""A ConditionSyntaxError on a long text shows a window around the fault, not the whole text (issue 18)."""

from __future__ import annotations

import pytest

from syllabus_like import parse_condition


def test_a_condition_syntax_error_on_a_long_text_shows_a_window_around_the_caret():
    text = "episodes>=1 & " * 70_000 + "episodes >>= 3" + " & episodes>=1" * 70_000
    with pytest.raises(ValueError) as caught:
        parse_condition(text)
    message = str(caught.value)
    assert len(message) < 400
    assert caught.value.text == text
    shown, pointer = message.splitlines()[1:3]
    assert shown.strip().startswith("...") and shown.endswith("...")
    caret = pointer.index("^")
    assert shown[caret - 10 : caret + 2] == "episodes >>="  # the caret under the second '>'
    assert caught.value.position == text.index(">>=") + 1


def test_a_short_text_is_shown_whole_with_the_caret_under_the_fault():
    with pytest.raises(ValueError) as caught:
        parse_condition("episodes >>= 3")
    shown, pointer = str(caught.value).splitlines()[1:3]
    assert shown.strip() == "episodes >>= 3"
    assert pointer.index("^") == shown.index(">>=") + 1
