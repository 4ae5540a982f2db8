import pytest

from humanoid_teleop.manip.prompts import (
    PromptError,
    parse_yes_no,
    plan_prompt,
    success_filter_question,
)


def test_plan_prompts():
    p = plan_prompt("instruction", "  pick up   the red cup ")
    assert "snake order" in p and p.endswith("Task: pick up the red cup.")
    t = plan_prompt("trajectory")
    assert "red arrow" in t and "Task" not in t
    with pytest.raises(PromptError):
        plan_prompt("instruction", " ")
    with pytest.raises(PromptError):
        plan_prompt("sketch", "x")  # type: ignore[arg-type]


def test_success_filter_question_and_answers():
    assert "'open the drawer'" in success_filter_question("open the drawer")
    assert parse_yes_no("Yes.") is True
    assert parse_yes_no(" **No**, the cup melts") is False
    with pytest.raises(PromptError):
        parse_yes_no("The video shows a cup")
