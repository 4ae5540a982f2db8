"""The walking expert: contract, config validation, and closed-loop episodes in the twin."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.contracts import Mode, RobotCommand, VelocityCommand
from humanoid_teleop.control.accel import quat_matrix
from humanoid_teleop.control.controller import Controller
from humanoid_teleop.control.stand import StandController
from humanoid_teleop.sim.expert import ExpertConfig, WalkingExpert, calm_config, imu_config
from humanoid_teleop.sim.expert.footsteps import LEFT, RIGHT, GaitConfig, step_target
from humanoid_teleop.sim.imu_errors import ImuErrors
from humanoid_teleop.sim.robot import MujocoRobot, MujocoRobotConfig


def _episode(
    schedule: list[tuple[float, VelocityCommand]],
    seconds: float,
    expert: WalkingExpert | None = None,
    push: tuple[float, np.ndarray] | None = None,
    sensors_only: bool = False,
    imu_errors: ImuErrors | None = None,
    command_delay_s: float = 0.0,
):
    """Drive the twin with the expert; returns (robot, expert, fell_at_s or None, base
    velocity history (T, 2) world x/y). ``push``: (time s, impulse N s, world) over 0.1 s.
    ``sensors_only``: the expert gets the states without the twin's true base, as from a
    real G1, and takes over after 2 s of the stand controller (as after the Safety ramp: the
    keyframe's drop onto the floor would otherwise start its velocity estimate off).
    ``imu_errors``: the twin's IMU reports with them (seed 0). ``command_delay_s``: each
    command reaches the motors that long after the state it answers."""
    robot = MujocoRobot(MujocoRobotConfig(imu_errors=imu_errors, command_delay_s=command_delay_s))
    robot.connect()
    state = robot.read_state()
    expert = expert or WalkingExpert()

    def seen(state):
        return dataclasses.replace(state, base=None) if sensors_only else state

    if sensors_only:
        stand = StandController()
        stand.reset(state)
        for _ in range(round(2.0 / stand.control_dt_s)):
            state = _send(robot, state, stand.act(state, VelocityCommand()))
    expert.reset(seen(state))
    vel = []
    for k in range(round(seconds / expert.control_dt_s)):
        t = k * expert.control_dt_s
        if push is not None and abs(t - push[0]) < expert.control_dt_s / 2:
            robot.push(np.asarray(push[1]) / 0.1, 0.1)
        command = [c for t0, c in schedule if t0 <= t + 1e-9][-1]
        state = _send(robot, state, expert.act(seen(state), command))
        vel.append(state.base.lin_vel_w_mps[:2])
        if state.base.pos_w_m[2] < 0.45 or state.imu.tilt_rad > g1.MAX_TILT_RAD:
            return robot, expert, t, np.array(vel)
    return robot, expert, None, np.array(vel)


def _send(robot: MujocoRobot, state, chunk):
    """Send a chunk's first targets for one control period; returns the next state."""
    zeros = np.zeros(g1.NUM_JOINTS)  # the stand controller sends neither dq nor tau
    dq = chunk.dq_radps[0] if chunk.dq_radps is not None else zeros
    tau = chunk.tau_ff_nm[0] if chunk.tau_ff_nm is not None else zeros
    robot.send(RobotCommand(state.timestamp_s, Mode.ACTIVE, g1.JOINT_NAMES, chunk.q_rad[0],
                            dq, tau, chunk.kp, chunk.kd))  # fmt: skip
    return robot.read_state()


def _base_xy_m(robot: MujocoRobot) -> np.ndarray:
    return np.array(robot.data.qpos[0:2])


def test_implements_controller_protocol_and_one_tick_chunk():
    robot = MujocoRobot()
    robot.connect()
    state = robot.read_state()
    expert = WalkingExpert()
    assert isinstance(expert, Controller)
    assert expert.name == "expert" and expert.control_dt_s == g1.CONTROL_DT_S
    expert.reset(state)
    chunk = expert.act(state, VelocityCommand(0.2, 0.0, 0.0))
    assert chunk.horizon == 1 and chunk.t0_s == state.timestamp_s
    assert chunk.dq_radps is not None and chunk.tau_ff_nm is not None
    assert np.all(chunk.kp <= g1.KP_MAX) and np.all(chunk.kd <= g1.KD_MAX)
    assert np.all(np.abs(chunk.tau_ff_nm) <= g1.TORQUE_LIMIT_NM)
    assert 0.0 <= expert.gait_phase < 1.0


def test_declares_its_envelope_and_ramps_the_command():
    robot = MujocoRobot()
    robot.connect()
    state = robot.read_state()
    expert = WalkingExpert()
    r = expert.command_ranges
    assert r.vx_mps[0] <= -0.2 and r.vx_mps[1] >= 0.4
    assert r.vy_mps[0] <= -0.15 and r.vy_mps[1] >= 0.15
    assert r.yaw_rate_radps[0] <= -0.6 and r.yaw_rate_radps[1] >= 0.6
    expert.reset(state)
    expert.act(state, VelocityCommand(5.0, 0.0, 0.0))
    # One tick: the internal command moves by at most accel * dt, and never leaves the envelope.
    ax = expert.config.command_accel[0]
    assert expert._command.vx_mps == pytest.approx(ax * expert.control_dt_s)


def test_controller_specs_name_the_push_response():
    from humanoid_teleop.controllers import UnknownControllerError, make_controller

    plain, calm = make_controller("expert"), make_controller("expert:calm")
    assert plain.config == ExpertConfig() == make_controller("expert:push").config
    assert plain.config.capture_trigger_m > 0 and plain.config.torso_counter_yaw_radpm > 0
    assert calm.config == calm_config() and calm.name == "expert:calm"
    assert calm.config.attitude_gain == calm.config.step_gain == calm.config.capture_trigger_m == 0
    nominal = calm.config.gait.single_support_s
    assert calm.config.capture_single_support_s == calm.config.recovery_single_support_s == nominal
    imu = make_controller("expert:imu")
    assert imu.name == "expert:imu"
    assert imu.config == imu_config() == ExpertConfig(sensing="imu", lateral_step_gain=0.0)
    assert type(imu.estimator).__name__ == "ImuEncoderEstimator"
    assert type(plain.estimator).__name__ == "TrueBaseEstimator"
    with pytest.raises(UnknownControllerError, match="expert:calm"):
        make_controller("expert:fast")


def test_only_the_experts_envelope_can_be_widened():
    from humanoid_teleop.contracts import CommandRanges, VelocityCommand
    from humanoid_teleop.controllers import UnknownControllerError, make_controller

    wide = CommandRanges(vx_mps=(-0.2, 0.5), vy_mps=(-0.15, 0.15), yaw_rate_radps=(-0.6, 0.6))
    for spec in ("expert", "expert:calm"):
        expert = make_controller(spec, command_ranges=wide)
        assert expert.command_ranges == wide and expert._shaping.ranges == wide
        assert expert.config.capture_trigger_m == make_controller(spec).config.capture_trigger_m
    assert wide.clamp(VelocityCommand(0.6, 0.0, 0.0)).vx_mps == 0.5
    assert wide.covers(ExpertConfig().command_ranges) and not ExpertConfig().command_ranges.covers(wide)
    for spec in ("stand", "policy"):
        with pytest.raises(UnknownControllerError, match="fixed command envelope"):
            make_controller(spec, command_ranges=wide)


def test_config_rejects_gains_outside_the_envelope():
    with pytest.raises(ValueError):
        ExpertConfig(kp=(400.0,) * g1.NUM_JOINTS)
    with pytest.raises(ValueError):
        GaitConfig(min_width_m=0.3, stance_width_m=0.2)
    with pytest.raises(ValueError, match="torque_budget"):
        ExpertConfig(torque_budget=1.2)
    with pytest.raises(ValueError, match="sensing"):
        ExpertConfig(sensing="gps")
    with pytest.raises(ValueError, match="imu_odometry_alpha"):
        ExpertConfig(sensing="imu", imu_odometry_alpha=0.0)


def test_feedforward_keeps_the_request_within_the_torque_budget():
    """Feedforward + the PD torque at the measured state stays within the budget, so the
    motors are never asked for more than they have (here: a state far from the plan)."""
    robot = MujocoRobot()
    robot.connect()
    state = robot.read_state()
    expert = WalkingExpert()
    expert.reset(state)
    chunk = expert.act(state, VelocityCommand(0.4, 0.0, 0.0))
    bent = dataclasses.replace(state, q_rad=state.q_rad + 0.3, dq_radps=state.dq_radps - 2.0)
    chunk = expert.act(bent, VelocityCommand(0.4, 0.0, 0.0))
    request = (chunk.tau_ff_nm[0] + chunk.kp * (chunk.q_rad[0] - bent.q_rad)
               + chunk.kd * (chunk.dq_radps[0] - bent.dq_radps))  # fmt: skip
    budget = expert.config.torque_budget * g1.TORQUE_LIMIT_NM
    pd = request - chunk.tau_ff_nm[0]
    # Where the PD alone stays within the budget, the total does too; the feedforward never
    # exceeds the budget on its own.
    inside = np.abs(pd) <= budget
    assert inside.any() and np.all(np.abs(request[inside]) <= budget[inside] + 1e-9)
    assert np.all(np.abs(chunk.tau_ff_nm[0]) <= budget + 1e-9)


def test_step_target_keeps_the_soles_apart_and_follows_the_command():
    gait = GaitConfig()
    stance = np.array([0.0, -gait.stance_width_m / 2, 0.0])
    target = step_target(stance, RIGHT, VelocityCommand(0.2, 0.0, 0.0), gait)
    assert target[0] == pytest.approx(0.2 * gait.cycle_s)
    assert target[1] == pytest.approx(gait.stance_width_m / 2)
    # Sidestepping towards the stance foot cannot bring the soles closer than min_width_m.
    target = step_target(np.array([0.0, 0.1, 0.0]), LEFT, VelocityCommand(0.0, 1.0, 0.0), gait)
    assert 0.1 - target[1] == pytest.approx(gait.min_width_m)


def test_swing_lands_on_its_target_at_rest_unless_its_speed_cap_holds_it_back():
    from humanoid_teleop.sim.expert import swing

    def fly(target, seconds, cap):
        pose, vel, speeds = np.zeros(3), np.zeros(3), []
        for k in range(round(seconds / 0.02)):
            before = pose
            pose, vel = swing.advance(pose, vel, target, seconds - k * 0.02, 0.02, cap)
            speeds.append(np.linalg.norm(pose[:2] - before[:2]) / 0.02)
        return pose, vel, max(speeds)

    walking_step = np.array([0.3, 0.05, 0.2])
    pose, vel, top = fly(walking_step, 0.35, 0.0)
    np.testing.assert_allclose(pose, walking_step, atol=1e-12)
    assert np.all(vel == 0.0) and 1.2 < top < 1.8  # a walking step is below the 1.8 m/s cap
    np.testing.assert_allclose(fly(walking_step, 0.35, 1.8)[0], walking_step, atol=1e-12)
    long_fast = np.array([0.6, -0.1, 0.0])  # 0.6 m in 0.22 s would peak near 4 m/s
    pose, vel, top = fly(long_fast, 0.22, 1.8)
    assert top <= 1.8 + 1e-9 and 0.3 < pose[0] < 0.6 and np.all(vel == 0.0)


@pytest.mark.sim
def test_stands_20_s_on_zero_command():
    robot, expert, fell, _vel = _episode([(0.0, VelocityCommand())], 20.0)
    assert fell is None
    assert not expert.stepping
    assert np.linalg.norm(_base_xy_m(robot)) < 0.05
    assert robot.motor_stats.max_ratio <= 1.0


@pytest.mark.sim
def test_walks_3_m_forward_and_stops_upright():
    schedule = [(0.0, VelocityCommand()), (1.0, VelocityCommand(0.3, 0.0, 0.0)),
                (14.0, VelocityCommand())]  # fmt: skip
    robot, expert, fell, vel = _episode(schedule, 17.0)
    assert fell is None
    x, y = _base_xy_m(robot)
    # It reaches ~0.25 m/s of the 0.3 commanded, and the heading drifts ~0.1 rad (no
    # absolute heading is held: commands are rates), so allow sideways drift.
    assert x > 3.0 and abs(y) < 0.7
    assert not expert.stepping  # stopped with the feet side by side
    # Known defect: after walking, the stand sways sideways (+-5 cm, ~2 s period) for a
    # while; it must not wander off.
    assert np.linalg.norm(vel[-100:].mean(axis=0)) < 0.1


@pytest.mark.sim
@pytest.mark.parametrize(("imu_errors", "command_delay_s"),
                         [(None, 0.0), (ImuErrors(), 0.0), (ImuErrors(), 0.01)],
                         ids=["exact_imu", "imu_errors", "imu_errors_10_ms_late"])  # fmt: skip
def test_walks_and_stops_on_the_encoders_and_the_imu_alone(imu_errors, command_delay_s):
    """expert:imu never sees the twin's true base (the states it gets carry none), and walks
    on an exact IMU or one with a real part's biases, noise and attitude error, also when
    its commands reach the motors 10 ms late (as over DDS, a little worse)."""
    schedule = [(0.0, VelocityCommand()), (1.0, VelocityCommand(0.3, 0.0, 0.0)),
                (7.0, VelocityCommand(0.0, 0.0, 0.5)), (9.0, VelocityCommand())]  # fmt: skip
    expert = WalkingExpert(imu_config())
    robot, expert, fell, _vel = _episode(schedule, 12.0, expert, sensors_only=True,
                                        imu_errors=imu_errors, command_delay_s=command_delay_s)  # fmt: skip
    assert fell is None and not expert.stepping
    x, y = _base_xy_m(robot)
    yaw = 2 * math.atan2(robot.data.qpos[6], robot.data.qpos[3])
    # measured 1.72 m and -0.06 m; with the errors 1.59 and 0.21, 10 ms late 1.59 and 0.20
    assert x > 1.2 and abs(y) < 0.5
    assert yaw > 0.6  # turned in place (1 rad commanded; measured 1.08, with the errors 1.16)


@pytest.mark.sim
def test_the_imu_estimate_learns_the_accelerometer_error_while_standing():
    """A biased accelerometer read along a tilted attitude leaves a false acceleration; while
    the expert stands, the estimator learns it (IMU frame) and its velocity stays at rest."""
    errors = ImuErrors(accel_bias_mps2=0.1, tilt_bias_rad=0.02, gyro_noise_radps=0.0,
                       accel_noise_mps2=0.0, tilt_noise_rad=0.0)  # fmt: skip
    expert = WalkingExpert(ExpertConfig(sensing="imu"))
    robot, expert, fell, _ = _episode([(0.0, VelocityCommand())], 3.0, expert,
                                      sensors_only=True, imu_errors=errors)  # fmt: skip
    assert fell is None
    state = robot.read_state()
    R_true, R_imu = quat_matrix(state.base.quat_wxyz), quat_matrix(state.imu.quat_wxyz)
    gravity = np.array([0.0, 0.0, 9.81])
    # At rest the accelerometer reads gravity in its true frame plus its bias; the estimator
    # removes gravity along the IMU's attitude, so the rest is what it must learn.
    false_accel = robot._imu_errors.accel_bias + R_true.T @ gravity - R_imu.T @ gravity
    assert np.linalg.norm(false_accel[:2]) > 0.2  # m/s^2: not a trivial error
    learnt = expert.estimator.accel_bias_b
    assert np.allclose(learnt, false_accel, atol=0.02)  # measured within 1.4 mm/s^2
    at_rest = expert.estimator.measure(dataclasses.replace(state, base=None), standing=True)
    assert np.linalg.norm(at_rest.com_vel_mps[:2]) < 0.02


@pytest.mark.sim
def test_the_imu_estimate_follows_the_true_base():
    """While the true-base expert walks, the encoder + IMU estimate of what it balances on
    (the CoM's velocity, the CoM relative to the soles) stays close to the truth."""
    from humanoid_teleop.sim.expert.estimator import ImuEncoderEstimator

    expert = WalkingExpert()
    estimator = ImuEncoderEstimator(expert.body, expert.control_dt_s, ExpertConfig().imu_odometry_alpha)
    truth_measure, errors = expert.estimator.measure, []

    def measure_both(state, standing=False):
        truth = truth_measure(state, standing)
        guess = estimator.measure(dataclasses.replace(state, base=None), standing)
        # The estimate's origin drifts: compare the CoM relative to the soles' midpoint.
        guess_com = guess.com_m[:2] - guess.soles[:, :2].mean(axis=0)
        truth_com = truth.com_m[:2] - truth.soles[:, :2].mean(axis=0)
        errors.append(np.r_[guess.com_vel_mps[:2] - truth.com_vel_mps[:2],
                            guess_com - truth_com,
                            guess.pelvis_yaw_rad - truth.pelvis_yaw_rad])  # fmt: skip
        return truth

    expert.estimator.measure = measure_both
    schedule = [(0.0, VelocityCommand()), (2.5, VelocityCommand(0.35, 0.0, 0.3))]
    _, _, fell, _ = _episode(schedule, 9.5, expert)
    assert fell is None
    rms = np.sqrt(np.mean(np.square(errors[100:]), axis=0))  # from 2 s, the drop settled
    assert np.all(rms[:2] < 0.08)  # m/s; measured 0.035, 0.038 (before the bias estimate 0.030, 0.033)
    assert np.all(rms[2:4] < 0.005)  # kinematics: measured 0.1 mm
    assert rms[4] < 0.002  # the IMU's heading against the base's: measured 0.8 mrad


@pytest.mark.sim
def test_walks_at_0_55_mps_on_quicker_steps_within_safety():
    """Beyond the default envelope the cycle quickens (gait.FastCadence): 0.55 m/s straight
    for 10 s under Safety's terminations (joint speed, gyro, tilt), which stay quiet."""
    from humanoid_teleop.contracts import CommandRanges
    from humanoid_teleop.control.loop import ControlLoop
    from humanoid_teleop.control.safety import Safety

    wide = CommandRanges((-0.2, 0.6), (-0.15, 0.15), (-0.6, 0.6))
    expert = WalkingExpert(ExpertConfig(command_ranges=wide))
    robot = MujocoRobot()
    robot.reset("home")
    robot.connect()
    loop = ControlLoop(robot, expert, Safety())
    assert loop.ramp_up(4.0)
    xy = []
    for k in range(round(11.0 / expert.control_dt_s)):
        record = loop.tick(VelocityCommand(0.55, 0.0, 0.0) if k * 0.02 >= 1.0 else VelocityCommand())
        assert record.mode is Mode.ACTIVE, loop.safety.last_fault
        xy.append(record.state.base.pos_w_m[:2].copy())
    assert expert._gait_now.single_support_s == pytest.approx(0.2975)  # 0.35 at 0.4, 0.28 at 0.6
    speed = np.linalg.norm(xy[-1] - xy[-250]) / (249 * expert.control_dt_s)
    assert speed > 0.45  # measured 0.51 m/s over the last 5 s


@pytest.mark.sim
def test_turns_90_degrees_in_place():
    schedule = [(0.0, VelocityCommand()), (1.0, VelocityCommand(0.0, 0.0, 0.5)),
                (1.0 + math.pi / 2 / 0.5, VelocityCommand())]  # fmt: skip
    robot, _expert, fell, _vel = _episode(schedule, 7.0)
    assert fell is None
    yaw = 2 * math.atan2(robot.data.qpos[6], robot.data.qpos[3])
    assert yaw == pytest.approx(math.pi / 2, abs=0.3)
    assert np.linalg.norm(_base_xy_m(robot)) < 0.2


@pytest.mark.sim
def test_sidesteps_left_and_right():
    schedule = [(0.0, VelocityCommand()), (1.0, VelocityCommand(0.0, 0.15, 0.0)),
                (5.0, VelocityCommand(0.0, -0.15, 0.0)), (7.0, VelocityCommand())]  # fmt: skip
    robot, expert, fell, vel = _episode(schedule, 10.0)
    assert fell is None
    x, y = _base_xy_m(robot)
    # 4 s left then 2 s right at 0.15 m/s: about 0.3 m net to the left. It ends 0.44 m to
    # the left and 0.13 m back; before the sideways step adjustment inside the dead band
    # (lateral_step_gain) 0.62 m left, 0.46 before early touchdowns ended its hurried
    # recovery cycles at the sole's first touch, 0.44 with recovery cycles at the nominal
    # swing time.
    assert 0.15 < y < 0.55 and abs(x) < 0.3
    # The reversal is slow: the command ramps at 0.5 m/s^2 and each step follows the command
    # of its lift-off. Left 0.48 m by 5 s, then 0.06 m more by 6 s and none by 7 s (before
    # the sideways adjustment 0.06 and 0.05 m more), then 0.1 m back right after the stop.
    y_at = np.cumsum(vel[:, 1]) * expert.control_dt_s
    y1, y5, y7 = (y_at[round(t / expert.control_dt_s)] for t in (1.0, 5.0, 7.0))
    assert y5 - y1 > 0.3 and y7 - y5 < 0.09
    assert not expert.stepping


# A straight backward push of 20 N s from standing: the capture step, slowed to the swing
# speed cap and ended at its early touchdown, lands short and the step after it cannot
# catch up (falls at 4.1 s). Without the cap or early touchdown it survives, but
# validate --pushes survives fewer pushes (docs/figures.md).
_BACKWARD_20_FALLS = pytest.mark.xfail(strict=True, reason="the capture step lands short")


@pytest.mark.sim
@pytest.mark.parametrize(
    ("direction", "impulse_ns"),
    [(d, i) for d in ("left", "right", "forward") for i in (15.0, 20.0)]
    + [("backward", 15.0), pytest.param("backward", 20.0, marks=_BACKWARD_20_FALLS)],
)
def test_push_response_rides_out_a_push(direction, impulse_ns):
    # 15-20 N s at the pelvis (0.45-0.6 m/s for the 33 kg robot) while standing: the DCM
    # leaves the soles, so only a step saves it. Without the disturbance response
    # (calm_config) the same push topples the robot.
    unit = {"left": (0, 1), "right": (0, -1), "forward": (1, 0), "backward": (-1, 0)}[direction]
    push = (2.5, np.array([impulse_ns * unit[0], impulse_ns * unit[1], 0.0]))
    stand = [(0.0, VelocityCommand())]
    _, expert, fell, _ = _episode(stand, 5.0, push=push)
    assert fell is None and expert._cycle_index > 0  # it stepped
    _, _, fell, _ = _episode(stand, 5.0, expert=WalkingExpert(calm_config()), push=push)
    assert fell is not None


@pytest.mark.sim
def test_a_capture_step_is_quicker_than_a_walking_step():
    # Standing, under Safety: 20 N s pushes to the left and to the right. With the capture
    # step swinging in the nominal 0.35 s the DCM runs past where the step can reach (or
    # the catch-up trips Safety); in capture_single_support_s = 0.22 s it recovers.
    slow = ExpertConfig(capture_single_support_s=ExpertConfig().gait.single_support_s)
    for impulse_ns, direction_deg in ((20.0, 90.0), (20.0, 270.0)):
        fell, _ = _guarded_episode(WalkingExpert(slow), VelocityCommand(), 2.5, impulse_ns,
                                   direction_deg)  # fmt: skip
        assert fell is not None
        fell, fault = _guarded_episode(WalkingExpert(), VelocityCommand(), 2.5, impulse_ns,
                                       direction_deg)  # fmt: skip
        assert fell is None, fault


def _guarded_episode(expert: WalkingExpert, command: VelocityCommand, push_t_s: float,
                     impulse_ns: float, direction_deg: float, seconds: float = 6.0):  # fmt: skip
    """As the validation runs it: through Safety's ramp, then the expert under Safety (whose
    gyro and joint-speed terminations damp the robot); the command from 1 s, a push at the
    pelvis over 0.1 s. Returns (fell at s or None, Safety's last fault)."""
    from humanoid_teleop.control.loop import ControlLoop
    from humanoid_teleop.control.safety import Safety

    robot = MujocoRobot()
    robot.reset("home")
    robot.connect()
    safety = Safety()
    loop = ControlLoop(robot, expert, safety)
    assert loop.ramp_up(4.0)
    a = math.radians(direction_deg)
    force = impulse_ns / 0.1 * np.array([math.cos(a), math.sin(a), 0.0])
    for k in range(round(seconds / expert.control_dt_s)):
        t = k * expert.control_dt_s
        if k == round(push_t_s / expert.control_dt_s):
            robot.push(force, 0.1)
        state = loop.tick(command if t >= 1.0 else VelocityCommand()).state
        if state.base.fallen:
            return t, safety.last_fault
    return None, safety.last_fault


@pytest.mark.sim
def test_a_push_during_a_weight_shift_starts_a_capture_step():
    # The first weight shift of a walk lasts 0.6 s on both feet. A 20 N s push to the left
    # in it, answered only at lift-off, topples the robot; a capture step started in the
    # double support catches it.
    walk = VelocityCommand(0.3, 0.0, 0.0)
    late = WalkingExpert(ExpertConfig(capture_in_double_support=False))
    fell, _ = _guarded_episode(late, walk, 1.2, 20.0, 90.0)
    assert fell is not None
    fell, fault = _guarded_episode(WalkingExpert(), walk, 1.2, 20.0, 90.0)
    assert fell is None, fault


@pytest.mark.sim
def test_a_swing_sole_that_meets_the_ground_early_lands_there():
    # A 15 N s forward push in the first weight shift: the capture step's sole meets the
    # ground before its time. Dragged on to its target under load, it tripped one of
    # Safety's terminations (the gyro before the swing speed cap, an ankle past 10 rad/s
    # with it); landing it where it touched down, the walk goes on.
    walk = VelocityCommand(0.3, 0.0, 0.0)
    fell, fault = _guarded_episode(WalkingExpert(ExpertConfig(early_touchdown_m=0.0)),
                                   walk, 1.2, 15.0, 0.0)  # fmt: skip
    assert fell is not None and fault and not fault.startswith("tilt")
    fell, fault = _guarded_episode(WalkingExpert(), walk, 1.2, 15.0, 0.0)
    assert fell is None, fault
