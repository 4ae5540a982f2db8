"""The validation report's arithmetic: what counts as a failed episode."""

import pytest

from humanoid_teleop.sim.validate import EpisodeResult, PushConfig, ValidationConfig, summarize


def episode(fell=False, fault="", torque=0.5):
    return EpisodeResult(seed=0, fell=fell, fall_time_s=3.0 if fell else None,
                         max_torque_ratio=torque, joint_limit_hits=0, safety_fault=fault,
                         vel_errors_mps=[0.05], yaw_rate_errors_radps=[0.05],
                         sampled={k: [0.0, 0.1] for k in ("vx_mps", "vy_mps", "yaw_rate_radps")})  # fmt: skip


def test_an_episode_safety_stopped_fails_like_a_fall():
    upright = [episode() for _ in range(98)]
    report = summarize(
        "expert", ValidationConfig(episodes=100), upright + [episode(), episode()], 1.0
    )
    assert report["passed"] and report["failure_rate"] == 0.0
    # One fall (Safety tripped on the way down) and one stop in damping, still upright.
    tripped = [episode(fell=True, fault="gyro 7.0 rad/s > 6.0 rad/s", torque=4.0),
               episode(fault="right_hip_yaw_joint speed 19.6 rad/s > 10.0 rad/s")]  # fmt: skip
    report = summarize("expert", ValidationConfig(episodes=100), upright + tripped, 1.0)
    assert report["falls"] == 1 and report["fall_rate"] == 0.01
    assert report["safety_stops"] == 1 and report["failure_rate"] == 0.02
    assert report["checks"]["failure_rate"]  # 0.02 is the bar itself
    assert report["max_torque_ratio_upright_episodes"] == 0.5
    report = summarize("expert", ValidationConfig(episodes=99), upright[:97] + tripped, 1.0)
    assert report["failure_rate"] > 0.02 and not report["checks"]["failure_rate"]
    assert not report["passed"]


def test_with_pushes_the_fall_bar_is_five_percent():
    results = [episode() for _ in range(95)] + [episode(fell=True) for _ in range(5)]
    pushed = summarize("expert", ValidationConfig(episodes=100, pushes=True), results, 1.0)
    assert pushed["checks"]["failure_rate"] and pushed["thresholds"]["max_pushed_fall_rate"] == 0.05
    plain = summarize("expert", ValidationConfig(episodes=100), results, 1.0)
    assert not plain["checks"]["failure_rate"]
    results[0] = episode(fell=True)
    pushed = summarize("expert", ValidationConfig(episodes=100, pushes=True), results, 1.0)
    assert pushed["failure_rate"] == 0.06 and not pushed["checks"]["failure_rate"]


@pytest.mark.parametrize(
    "bad",
    [{"impulse_ns": (20.0, 15.0)}, {"impulse_ns": (0.0, 5.0)}, {"interval_s": (4.0, float("nan"))},
     {"duration_s": 0.0}, {"first_after_s": -1.0}],
)  # fmt: skip
def test_a_push_config_out_of_range_is_refused(bad):
    with pytest.raises(ValueError):
        PushConfig(**bad)
