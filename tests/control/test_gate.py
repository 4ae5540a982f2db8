"""The hardware gate: only a checkpoint with a passing report bound to its bytes may drive."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")

from humanoid_teleop.control.gate import (
    GateConfig,
    HardwareGateError,
    attach_report,
    check_hardware_gate,
    checkpoint_digest,
)
from humanoid_teleop.policy.checkpoint import save_checkpoint
from tests.policy.helpers import tiny_policy

PASSING = {"passed": True, "episodes": 100, "fall_rate": 0.01, "max_torque_ratio": 0.8}


@pytest.fixture
def checkpoint(tmp_path):
    return save_checkpoint(tmp_path / "ck", tiny_policy())


def test_a_bound_passing_report_opens_the_gate(checkpoint):
    attach_report(checkpoint, PASSING)
    report = check_hardware_gate(checkpoint)
    assert report["checkpoint_sha256"] == checkpoint_digest(checkpoint)


def test_no_report_is_refused_with_the_command_to_make_one(checkpoint):
    with pytest.raises(HardwareGateError, match="--attach"):
        check_hardware_gate(checkpoint)


def test_changed_weights_invalidate_the_report(checkpoint):
    attach_report(checkpoint, PASSING)
    save_checkpoint(checkpoint, tiny_policy(seed=1))  # retrained in place
    with pytest.raises(HardwareGateError, match="digest differs"):
        check_hardware_gate(checkpoint)


def test_the_report_itself_is_not_part_of_the_digest(checkpoint):
    before = checkpoint_digest(checkpoint)
    attach_report(checkpoint, PASSING)
    assert checkpoint_digest(checkpoint) == before


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"passed": False}, "did not pass"),
        ({"episodes": 5}, "needs 20"),
        ({"fall_rate": 0.2}, "fall_rate 0.200"),
        ({"max_torque_ratio": 1.4}, "max_torque_ratio 1.40"),
    ],
)
def test_every_failed_condition_is_named(checkpoint, change, reason):
    attach_report(checkpoint, {**PASSING, **change})
    with pytest.raises(HardwareGateError, match=reason):
        check_hardware_gate(checkpoint, GateConfig())


def test_gains_outside_the_hardware_envelope_are_refused(checkpoint):
    robot = json.loads((checkpoint / "robot.json").read_text())
    robot["kp"][0] = 400.0
    (checkpoint / "robot.json").write_text(json.dumps(robot))
    attach_report(checkpoint, PASSING)  # bound to these gains, still refused
    with pytest.raises(HardwareGateError, match="envelope"):
        check_hardware_gate(checkpoint)


def test_a_folder_that_is_no_checkpoint(tmp_path):
    with pytest.raises(HardwareGateError, match="not a checkpoint"):
        check_hardware_gate(tmp_path)
