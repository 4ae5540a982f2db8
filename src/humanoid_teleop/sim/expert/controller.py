"""WalkingExpert: a model-based walking controller for the G1 twin (the DAgger expert).

Per 50 Hz tick:
1. Measure (``estimator``): CoM position/velocity, sole poses, pelvis tilt. The operator's
   command is clamped to ``command_ranges``, fast walking and fast turning are traded off
   (``max_turn_product``), the sum of the axes' shares of their range is capped
   (``max_speed_sum``), and the result is ramped at bounded accelerations: that internal
   command is what the footsteps follow.
2. Gait timeline: a cycle is double support (ZMP shifts onto the stance sole) then single
   support (the other foot swings), both shorter above 0.4 m/s forward (``gait.fast``).
   At lift-off the plan is re-anchored rigidly (x, y, yaw) so its stance sole is where the
   measured one is; a zero command brings the feet side by side and stops; a non-zero one
   starts stepping. The swing target follows the command
   until ``target_freeze`` of the swing; once the DCM error leaves a dead band it is also
   moved by the DCM error predicted at touchdown (capture-point step adjustment,
   ``step_gain``); inside the dead band the sideways part of the error beyond a few
   centimetres moves it too (``lateral_step_gain``). With both feet down (standing, or a
   walking cycle's double support), a DCM error past ``capture_trigger_m`` starts a capture
   step, aimed at where the measured DCM will be at touchdown (``capture_aim_dcm``).
   Capture steps and cycles that begin with the DCM error past the dead band swing faster
   than walking steps (``capture_single_support_s``, ``recovery_single_support_s``). A
   swing sole that meets the ground before its time lands where it is
   (``early_touchdown_m``); its horizontal speed is capped (``max_swing_speed_mps``).
3. CoM: ZMP preview control over the footstep plan's ZMP reference.
4. Whole body: leg IK for the plan at t + dt (the plan at t was solved last tick), so
   ``dq = (q(t+dt) - q(t)) / dt`` is what the 500 Hz motor law extrapolates along; inverse
   dynamics of the plan gives the feedforward torque, with the balance feedback (COP shift
   proportional to the DCM error) added as a sole moment, cut so that feedforward plus the
   PD torque at the measured state stays within ``torque_budget`` of each motor's limit.
5. Attitude: the measured pelvis roll/pitch is added to the stance hips' targets while
   stepping (``attitude_gain``) and taken off the swing hips' (``swing_level_gain``); the
   waist turns the torso against the legs (``torso_counter_yaw_radpm``).

Reads the twin's true base state through ``TrueBaseEstimator`` by default, or only the
joint encoders and the pelvis IMU through ``ImuEncoderEstimator`` (``sensing="imu"``,
``expert:imu``; see estimator.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from humanoid_teleop import g1
from humanoid_teleop.contracts import (
    WALK_COMMAND_RANGES,
    ActionChunk,
    CommandRanges,
    RobotState,
    VelocityCommand,
)
from humanoid_teleop.gait import CommandShaping, FastCadence
from humanoid_teleop.sim.expert import swing
from humanoid_teleop.sim.expert.estimator import (
    ImuEncoderEstimator,
    Measurement,
    TrueBaseEstimator,
)
from humanoid_teleop.sim.expert.footsteps import (
    LEFT,
    GaitConfig,
    clip_target,
    is_aligned,
    midpoint,
    rot2,
    step_target,
    wrap_rad,
)
from humanoid_teleop.sim.expert.preview import PreviewConfig, ZmpPreview
from humanoid_teleop.sim.expert.wholebody import WholeBody, WholeBodyConfig

_J = g1.JOINT_INDEX


def _gains(values: dict[str, float]) -> tuple[float, ...]:
    return tuple(float(v) for v in g1.per_joint(values))


# What the expert can measure from: the twin's true base, or the encoders and the IMU.
SENSING = ("true_base", "imu")


@dataclass(frozen=True)
class ExpertConfig:
    gait: GaitConfig = field(default_factory=GaitConfig)
    wholebody: WholeBodyConfig = field(default_factory=WholeBodyConfig)
    control_dt_s: float = g1.CONTROL_DT_S
    preview_horizon_s: float = 1.6
    # Pelvis above the soles while walking (knees bent). 0.74 fell walking straight at
    # 0.4 m/s (pelvis pitching forward 0.2-0.9 rad, DCM error 0.22 m RMS): long steps left
    # the legs near full extension. At 0.70: upright at 0.4 m/s (pitch <= 0.12 rad, DCM error
    # 0.05 m RMS) and validate (100 x 20 s, seed 0) went from 4 falls to 2.
    pelvis_height_m: float = 0.70
    posture_ramp_s: float = 1.0  # from the start pose to the walking height
    # Balance feedback.
    # COP shift per metre of DCM error, on one foot / on both. Swept on validate() (full
    # envelope, 2 x 20 episodes): 0 falls every episode, 0.1-0.25 is best, 0.5 and above
    # fall more (the stiff joint PD already holds the CoM; a larger shift fights it).
    cop_gain: float = 0.25
    cop_gain_double: float = 0.25
    cop_limit_forward_m: float = 0.05
    cop_limit_side_m: float = 0.02
    cop_limit_side_double_m: float = 0.06
    # Disturbance response: attitude feedback while stepping, step adjustment beyond a dead
    # band, capture steps from standing (capture_trigger_m) aimed at the DCM
    # (capture_aim_dcm), and the torso's counter-rotation (torso_counter_yaw_radpm). With all
    # of it, a single 15 N s push in the probe of docs/figures.md is survived 75 times in 96
    # (3 without any response) at the same fall rate in ordinary walking (validate, 100 x
    # 20 s: 2 falls on seed 0 and 2 on seed 1, against 2 and 1). ``calm_config`` turns it off.
    attitude_gain: float = 1.0  # rad of stance hip target per rad of pelvis tilt
    swing_level_gain: float = 1.0  # rad of swing hip target against a rad of pelvis tilt
    step_gain: float = 1.0  # swing target shift per metre of predicted DCM error at touchdown
    step_limit_m: float = 0.25
    # DCM error (m) below which a step is not adjusted: while walking the plan's DCM differs
    # from the measured one by 3-7 cm anyway (more at 0.4 m/s), and adjusting every step for
    # that ruins tracking (validate, 100 x 20 s: vel_rms 0.049 -> 0.13 m/s with no band);
    # with a 7 cm band, 12 s straight at 0.4 m/s fell, with 10 cm it walks (0.32 m/s).
    step_deadband_m: float = 0.10
    # Inside that dead band, the swing target still follows the sideways part of the DCM
    # error beyond ``lateral_step_band_m``, times this gain (predicted at touchdown, as
    # above). Without it a sideways error under the dead band had nothing to undo it (the
    # COP feedback, at most 2 cm on one foot, only slows its growth), and pushes of 5-10 N s
    # toppled the robot in 21 of 100 validation episodes (seed 0; 13 with it). Ordinary
    # walking is as before (validate 100 x 20 s: seed 0 vel_rms 0.0442 against 0.0447, seed
    # 1 0 falls against 1); a band of 0 (gain 0.5) walked rougher (vel_rms 0.049, torque 0.97).
    lateral_step_gain: float = 1.0
    lateral_step_band_m: float = 0.03
    joint_accel_limit_radps2: float = 100.0  # clip of the plan's joint accelerations
    # Share of each motor's torque limit that feedforward + PD may ask for at the tick (the
    # rest is headroom for the PD term growing within the tick); see _torque_budget.
    torque_budget: float = 0.9
    resync_gain: float = 0.0  # share of the CoM plan error removed at each lift-off
    # Push recovery while standing: when the measured DCM leaves the plan's by more than
    # this (m), the plan restarts from the measured CoM state and a step starts at once, with
    # the foot on the side the DCM runs to, its target moved by the DCM error predicted at
    # touchdown times ``capture_step_gain``. 0: off. With attitude feedback, not below 10 cm:
    # after walking the stand sways sideways by up to 8 cm, and a lower trigger kept stepping
    # in place after stops.
    capture_trigger_m: float = 0.10
    capture_shift_s: float = 0.2  # weight shift before the recovery step
    capture_step_gain: float = 1.0
    # A capture step aims at the measured DCM as it will be at touchdown with the COP held at
    # the stance sole's edge on the DCM's side (edges forward, backward, sideways of the sole
    # centre), re-aimed every tick until ``target_freeze``. Without it the step went to the
    # nominal target plus the DCM error against a plan that the capture had just reset to
    # the measured state, and landed short of the pushed CoM.
    capture_aim_dcm: bool = True
    capture_cop_edge_m: tuple[float, float, float] = (0.08, 0.06, 0.02)
    # The capture also fires in a walking cycle's double support (the 0.6 s start shift
    # included), which otherwise ran on, its stance chosen by the command, while the DCM ran
    # away until lift-off. validate --pushes (40 episodes, seed 0): 52% of pushes survived
    # without it, 63% with it; the plan at the capture tick is solved again from the
    # measured state (without that the joint-velocity jump tripped Safety's gyro limit).
    capture_in_double_support: bool = True
    # Hurried steps. While a step swings the DCM runs away by e^(omega T): a capture step
    # swings in ``capture_single_support_s``, and a cycle that begins (at a touchdown) with the
    # DCM error beyond ``step_deadband_m`` swings in ``recovery_single_support_s`` (the
    # nominal ``gait.single_support_s`` otherwise). Single-push probe
    # (benchmarks/push_recovery.py, 128 pushes, docs/figures.md): capture steps at 0.35 s
    # -> 22 of 32 standing pushes survived, 0.28 -> 30, 0.22 -> 32, 0.20 -> 29; recovery
    # cycles at 0.28 s: 50 -> 57 of 96 walking pushes, at 0.22: 34 (too fast to walk).
    # Shortening a swing already in the air (when the adjustment starts) fell more: 52 of
    # 128 against 74.
    capture_single_support_s: float = 0.22
    recovery_single_support_s: float = 0.28
    # The swing sole's horizontal speed is capped: a hurried step's cubic, re-aimed at a
    # running DCM, asked for 3 m/s and more, and the legs passed Safety's 10 rad/s joint
    # limit. Walking steps up to 0.4 m/s stay below it (0.4 m in 0.35 s peaks at 1.71 m/s;
    # faster, the cap rises to the nominal step's peak); a step it slows lands short.
    # validate --pushes (benchmarks/push_validation.py, 40 episodes, seeds 0 / 1): no cap
    # 72% / 65% of pushes survived, 2.6 m/s 72% / -, 2.0 76% / 75%, 1.8 76% / 80%, 1.5 67% /
    # 69%. 0: no cap.
    max_swing_speed_mps: float = 1.8
    # Early touchdown: a swing sole measured within ``early_touchdown_m`` of the ground has
    # landed (the step ends there, the sole stays where it is; 0: off) when its plan has it
    # more than ``early_touchdown_gap_m`` higher, or, in a hurried step, once
    # ``early_touchdown_hurried_phase`` of the swing has passed. Walking, the sole runs up to
    # 15 mm below its plan and touches down at 0.8 of the swing (plan 8 mm); after a push it
    # met the ground at 0.45 (plan 48 mm). Ending every step at its first touch (8 mm, after
    # 0.6 of the swing) cut walking steps short: vel_rms 0.043 -> 0.108 m/s on 30 validation
    # episodes. Push survival before the swing speed cap (validate --pushes, 40 episodes,
    # seeds 0 / 1): without early touchdown 63% / -, gap rule only 66% / 55%, with the
    # hurried rule at 0.5 72% / 65%.
    early_touchdown_m: float = 0.008
    early_touchdown_gap_m: float = 0.025
    early_touchdown_hurried_phase: float = 0.5
    # Waist yaw (rad) per metre that the left sole leads the right along the plan's heading:
    # the torso turns against the legs like a person's trunk, so its yaw momentum offsets the
    # swing leg's. With the torso held, a fast recovery step spun the robot on its stance toe
    # (0.46 rad of yaw in one 0.35 s swing) and the next step missed. Probe (15 N s, of 96):
    # 1.0 -> 54, 2.5 -> 63, 3.5 -> 75, 4.0 -> 73, 4.5 -> 69, 6.0 -> 52, 0 -> 56.
    torso_counter_yaw_radpm: float = 3.5
    # What the expert measures from (estimator.py): "true_base", the twin's ground-truth
    # floating base plus the encoders; "imu", the joint encoders and the pelvis IMU alone,
    # as on a real G1 (``expert:imu``), its IMU velocity (the accelerometer integrated)
    # pulled towards leg odometry by ``imu_odometry_alpha`` per tick. validate 100 x 20 s,
    # seed 0 (a throwaway script): alpha 0.003 / 0.02 / 0.05 -> 16 / 0 / 0 episodes failed
    # (0.003: the odometry's bias outlasts the walk); 0.02 on seed 1: 1 (the true base: 1).
    sensing: str = "true_base"
    imu_odometry_alpha: float = 0.02
    # The command the gait follows is ramped towards the operator's at these rates
    # (vx, vy m/s^2, yaw rad/s^2) so a stop from 0.4 m/s or a reversal does not jump the
    # footstep plan. Alone it left the fall rate where it was but lowered vel_rms.
    command_accel: tuple[float, float, float] = (0.5, 0.5, 1.0)
    # Walking fast while turning fast was the main cause of falls: on random commands with vx
    # -0.2..0.4 alone, or yaw rate +-0.6 alone, 0 of 20 fell; with both, 20-30% did. When
    # |vx| * |yaw rate| exceeds this (m rad / s^2), both are scaled down by the same factor
    # (0.1: 0.4 m/s with 0.6 rad/s becomes 0.26 with 0.39). 0.1 gave 0/40 falls on vx x yaw commands,
    # 0.15 about as many as no limit.
    max_turn_product: float = 0.1
    # Sum over the axes of |command| / (its largest magnitude in command_ranges) above which
    # the command is scaled down (all axes by one factor): the remaining falls were combined commands near the top of
    # the envelope. Full envelope, 2 x 20 episodes: off 5 falls, 1.5 3, 1.2 1 (vel_rms
    # 0.048 -> 0.055).
    max_speed_sum: float = 1.2
    # The envelope the expert supports (commands outside it are clamped).
    command_ranges: CommandRanges = WALK_COMMAND_RANGES
    # Upper body is held at this posture (waist and arms).
    upper_pose_rad: tuple[float, ...] = tuple(g1.HOME_POSE_RAD)
    kp: tuple[float, ...] = _gains(
        {
            "hip": 200.0, "knee": 300.0, "ankle_pitch": 200.0, "ankle_roll": 150.0,
            "waist": 200.0, "shoulder": 40.0, "elbow": 40.0, "wrist_roll": 20.0,
            "wrist_pitch": 10.0, "wrist_yaw": 10.0,
        }
    )  # fmt: skip
    kd: tuple[float, ...] = _gains(
        {
            "hip": 5.0, "knee": 6.0, "ankle_pitch": 4.0, "ankle_roll": 3.0,
            "waist": 5.0, "shoulder": 2.0, "elbow": 2.0, "wrist_roll": 1.0,
            "wrist_pitch": 0.5, "wrist_yaw": 0.5,
        }
    )  # fmt: skip

    def __post_init__(self):
        n = g1.NUM_JOINTS
        for name in ("kp", "kd", "upper_pose_rad"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: expected {n} values, got {len(getattr(self, name))}")
        if max(self.kp) > g1.KP_MAX or max(self.kd) > g1.KD_MAX or min(self.kp + self.kd) < 0:
            raise ValueError(f"gains must lie in 0..{g1.KP_MAX} (kp), 0..{g1.KD_MAX} (kd)")
        if not 0.55 <= self.pelvis_height_m <= 0.80:
            raise ValueError(f"pelvis_height_m: expected 0.55..0.80, got {self.pelvis_height_m}")
        if self.control_dt_s <= 0 or self.posture_ramp_s <= 0:
            raise ValueError("control_dt_s and posture_ramp_s must be > 0")
        if not 0.0 <= self.resync_gain <= 1.0:
            raise ValueError(f"resync_gain: expected 0..1, got {self.resync_gain}")
        if min(self.capture_single_support_s, self.recovery_single_support_s) <= 0.0:
            raise ValueError("capture_single_support_s and recovery_single_support_s must be > 0")
        if not 0.0 < self.torque_budget <= 1.0:
            raise ValueError(f"torque_budget: expected 0 < b <= 1, got {self.torque_budget}")
        if self.sensing not in SENSING:
            raise ValueError(f"sensing: expected one of {SENSING}, got {self.sensing!r}")
        if not 0.0 < self.imu_odometry_alpha <= 1.0:
            raise ValueError(f"imu_odometry_alpha: expected 0 < a <= 1, got {self.imu_odometry_alpha}")

    @classmethod
    def from_dict(cls, values: dict) -> ExpertConfig:
        """The config recorded as JSON (a dataset header's ``expert.config``). Every setting
        must be there: a recording from before a setting existed ran code whose behaviour
        is not today's default, so a missing or unknown setting is an error -- except those
        in ``SETTINGS_ADDED_LATER``, whose recorded-before value is known."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {**SETTINGS_ADDED_LATER, **values}
        missing, unknown = sorted(names - set(values)), sorted(set(values) - names)
        if missing or unknown:
            raise ValueError(f"expert config: missing settings {missing}, unknown {unknown}")
        v = dict(values)
        gait = dict(v["gait"])
        if isinstance(gait.get("fast"), dict):  # recorded as JSON
            gait["fast"] = FastCadence(**gait["fast"])
        v["gait"] = GaitConfig(**gait)
        v["wholebody"] = WholeBodyConfig(**v["wholebody"])
        v["command_ranges"] = CommandRanges(**v["command_ranges"])  # it makes the pairs tuples
        for name in ("kp", "kd", "upper_pose_rad", "command_accel", "capture_cop_edge_m"):
            v[name] = tuple(float(x) for x in v[name])
        return cls(**v)


# Settings added after datasets had been recorded, with the value that reproduces the code
# before them (a header without them was labelled by that code).
SETTINGS_ADDED_LATER = {
    "capture_aim_dcm": False,
    "capture_cop_edge_m": (0.08, 0.06, 0.02),  # unused while capture_aim_dcm is off
    "torso_counter_yaw_radpm": 0.0,
    "capture_single_support_s": 0.35,  # every swing took the nominal 0.35 s
    "recovery_single_support_s": 0.35,
    "capture_in_double_support": False,
    "early_touchdown_m": 0.0,
    "early_touchdown_gap_m": 0.025,  # unused while early_touchdown_m is 0
    "early_touchdown_hurried_phase": 0.5,  # unused too
    "max_swing_speed_mps": 0.0,
    "sensing": "true_base",
    "imu_odometry_alpha": 0.02,  # unused with the true base
    "lateral_step_gain": 0.0,  # no sideways step adjustment inside the dead band
    "lateral_step_band_m": 0.03,  # unused while the gain is 0
}


def calm_config(**overrides) -> ExpertConfig:
    """The expert without its disturbance response (``expert:calm`` on the command line; the
    default before the response was): no attitude feedback, no step adjustment, no capture
    steps, no hurried steps, the torso held. Pushes of 15 N s topple it."""
    values = {"attitude_gain": 0.0, "step_gain": 0.0, "step_limit_m": 0.12,
              "lateral_step_gain": 0.0,
              "capture_trigger_m": 0.0, "capture_aim_dcm": False,
              "torso_counter_yaw_radpm": 0.0, "capture_in_double_support": False,
              "early_touchdown_m": 0.0, "max_swing_speed_mps": 0.0,
              "capture_single_support_s": GaitConfig().single_support_s,
              "recovery_single_support_s": GaitConfig().single_support_s}  # fmt: skip
    values.update(overrides)
    return ExpertConfig(**values)


def imu_config(**overrides) -> ExpertConfig:
    """The expert on the joint encoders and the IMU alone (``expert:imu``), without the
    sideways step adjustment inside the dead band: on the IMU estimate, over DDS with a loaded
    CPU, it made the legs oscillate past Safety's limits more often (4 of 8 runs against 1 of
    6; docs/figures.md)."""
    return ExpertConfig(**{"sensing": "imu", "lateral_step_gain": 0.0, **overrides})


class WalkingExpert:
    """Controller protocol implementation; see the module docstring."""

    name = "expert"

    def __init__(self, config: ExpertConfig | None = None):
        self.config = c = config or ExpertConfig()
        self.control_dt_s = c.control_dt_s
        self.body = WholeBody(c.wholebody)
        if c.sensing == "imu":
            self.estimator = ImuEncoderEstimator(self.body, c.control_dt_s, c.imu_odometry_alpha)
        else:
            self.estimator = TrueBaseEstimator(self.body)
        self._kp = np.array(c.kp)
        self._kd = np.array(c.kd)
        self._upper = np.array(c.upper_pose_rad)
        self._com_offset = np.zeros(2)
        com_height = self._nominal_com_height_m()
        self.preview = ZmpPreview(
            PreviewConfig(com_height_m=com_height, dt_s=c.control_dt_s, horizon_s=c.preview_horizon_s)
        )
        self._omega = self.preview.config.omega_radps
        self.command_ranges = c.command_ranges
        # The same shaping the policy's gait clock replays (humanoid_teleop.gait).
        self._shaping = CommandShaping(c.command_accel, c.max_turn_product, c.max_speed_sum,
                                       c.command_ranges)  # fmt: skip
        self._stepping = False
        self._stance = LEFT
        self._cycle_index = 0
        self._phase = 0.0

    # -- public ----------------------------------------------------------------------------
    @property
    def gait_phase(self) -> float:
        """Stride phase in [0, 1): [0, 0.5) is a left-stance cycle, [0.5, 1) a right-stance
        one, each from the start of its double support; 0.0 while standing (see ``stepping``)."""
        return self._phase

    @property
    def stepping(self) -> bool:
        return self._stepping

    def reset(self, state: RobotState) -> None:
        c = self.config
        self.estimator.reset()
        meas = self.estimator.measure(state)
        self._t_s = state.timestamp_s
        self._t0_s = state.timestamp_s
        self._ground_z_m = float(meas.sole_z_m.mean())
        self._z0_m = meas.pelvis_z_m - self._ground_z_m
        self._feet = meas.soles.copy()  # (2, 3) planned soles on the ground
        self._stepping = False
        self._capture_cycle = False
        self._adjusting = False
        self._hurried = False
        self._ss_s = c.gait.single_support_s
        self._gait_now = c.gait  # the current cycle's gait (its timing set by the speed)
        self._phase = 0.0
        self._cycle_index = 0
        self._zmp_from = meas.com_m[:2].copy()
        self._shift_t0_s = state.timestamp_s
        self.preview.reset(meas.com_m[:2])
        self._swing_pose = np.zeros(3)
        self._swing_vel = np.zeros(3)
        self._target = np.zeros(3)
        self._dq_prev = np.zeros(g1.NUM_JOINTS)
        q0 = np.array(state.q_rad)
        q0[g1.WAIST_JOINTS.start :] = self._upper[g1.WAIST_JOINTS.start :]
        self._com_offset = np.zeros(2)
        self._q_now = q0
        self._command = VelocityCommand()
        self._plan_now = self._solve_plan(self._t_s, self.preview.state, 0.0, q0)

    def act(self, state: RobotState, command: VelocityCommand) -> ActionChunk:
        c = self.config
        dt = c.control_dt_s
        t = state.timestamp_s
        meas = self.estimator.measure(state, standing=not self._stepping)
        self._t_s = t
        command = self._ramp_command(command)
        self._command = command
        self._replan = False
        self._update_gait(t, command, meas)

        dcm_err = self._dcm_error(meas)
        if self._capture_due(dcm_err):
            self._react_to_disturbance(t, meas, dcm_err)
            dcm_err = self._dcm_error(meas)
            self._replan = True
        if self._replan:
            # The plan changed under the robot (a capture restarts it from the measured
            # state, an early touchdown puts the sole down): the plan at t is solved again so
            # the joint velocity below is the plan's motion over the tick, not the jump.
            self._plan_now = self._solve_plan(t, self.preview.state, 0.0, self._plan_now["q"])
        x_now = self.preview.state.copy()
        if self._stepping and self._in_single_support(t):
            self._update_swing_target(t, command, dcm_err, meas)
        self.preview.step(self._zmp_reference(t))
        swing_height = self._advance_swing(t)

        plan_now = self._plan_now
        plan_next = self._solve_plan(t + dt, self.preview.state, swing_height, plan_now["q"])
        q_now, q_next = plan_now["q"], plan_next["q"]
        dq = (q_next - q_now) / dt
        lim = c.joint_accel_limit_radps2
        ddq = np.clip((dq - self._dq_prev) / dt, -lim, lim)
        self._dq_prev = dq

        load_left = self._load_left(t)
        heading = rot2(plan_now["yaw"])
        # On both feet the support polygon is wide sideways; on one sole only +-3.6 cm.
        both_feet = 0.05 < load_left < 0.95
        cop_b = heading.T @ ((c.cop_gain_double if both_feet else c.cop_gain) * dcm_err)
        side_m = c.cop_limit_side_double_m if both_feet else c.cop_limit_side_m
        cop_b = np.clip(cop_b, [-c.cop_limit_forward_m, -side_m], [c.cop_limit_forward_m, side_m])
        tau = self.body.feedforward(
            plan_now["pelvis"],
            plan_now["yaw"],
            q_now,
            (plan_next["pelvis"] - plan_now["pelvis"]) / dt,
            wrap_rad(plan_next["yaw"] - plan_now["yaw"]) / dt,
            dq,
            np.r_[x_now[2], 0.0],
            ddq,
            load_left,
            heading @ cop_b,
        )

        q_cmd = q_now.copy()
        for side, share in ((LEFT, load_left), (1 - LEFT, 1.0 - load_left)):
            leg = 0 if side == LEFT else 6
            # A loaded leg turns the pelvis back upright (only while stepping: standing on both
            # feet it fed the sway after a stop); an unloaded one rotates against the pelvis
            # tilt so its sole stays level in the world for touchdown.
            stance_gain = c.attitude_gain if self._stepping else 0.0
            gain = stance_gain if share > 1e-3 else -c.swing_level_gain
            q_cmd[leg + 0] += gain * meas.pelvis_pitch_rad
            q_cmd[leg + 1] += gain * meas.pelvis_roll_rad
        self._plan_now = plan_next
        return ActionChunk(
            t0_s=t,
            dt_s=dt,
            joint_names=g1.JOINT_NAMES,
            q_rad=q_cmd[None, :],
            dq_radps=dq[None, :],
            tau_ff_nm=self._torque_budget(tau, q_cmd, dq, state)[None, :],
            kp=self._kp,
            kd=self._kd,
        )

    def _torque_budget(self, tau_ff: np.ndarray, q_cmd: np.ndarray, dq_cmd: np.ndarray,
                       state: RobotState) -> np.ndarray:  # fmt: skip
        """The feedforward, cut so that with the PD torque the motors will produce at this
        state the request stays within ``torque_budget`` of each limit: past the limit the
        motor clamps anyway, so asking for more only makes the plan's torque a fiction (the
        ankles at speed, the hip roll when a step starts, the arms on plan jolts)."""
        budget = self.config.torque_budget * g1.TORQUE_LIMIT_NM
        pd = self._kp * (q_cmd - state.q_rad) + self._kd * (dq_cmd - state.dq_radps)
        return np.clip(np.clip(tau_ff, -budget - pd, budget - pd), -budget, budget)

    def _capture_due(self, dcm_err: np.ndarray) -> bool:
        """A capture step starts when the DCM error passes the trigger with both feet down:
        standing, or in a walking cycle's double support (its weight shift would otherwise
        run on while the DCM runs away) unless that cycle already hurries: one that began at
        a capture or recovery touchdown lands where the DCM was aimed, and re-capturing there
        spread the feet further at every step."""
        c = self.config
        if c.capture_trigger_m <= 0.0 or np.linalg.norm(dcm_err) <= c.capture_trigger_m:
            return False
        if not self._stepping:
            return True
        return c.capture_in_double_support and not self._lifted and not self._hurried

    def _react_to_disturbance(self, t: float, meas: Measurement, dcm_err: np.ndarray) -> None:
        self._resync(meas, 1.0)
        # Standing: step with the foot on the side the DCM runs to (left push -> left foot).
        heading = rot2(self._feet[0, 2] + wrap_rad(self._feet[1, 2] - self._feet[0, 2]) / 2)
        lateral = float((heading.T @ dcm_err)[1])
        swing_side = LEFT if lateral >= 0.0 else 1 - LEFT
        self._feet = meas.soles.copy()
        self._stepping = True
        self._begin_cycle(t, 1 - swing_side, self.config.capture_shift_s,
                          self.preview.zmp_xy_m(), self._command)  # fmt: skip
        self._capture_cycle = True
        self._adjusting = True  # a capture step follows the DCM error whatever its size
        self._ss_s = self.config.capture_single_support_s
        self._hurried = True

    def _dcm_error(self, meas: Measurement) -> np.ndarray:
        """Measured DCM minus the plan's (world x, y)."""
        return meas.com_m[:2] + meas.com_vel_mps[:2] / self._omega - self.preview.dcm_xy_m()

    def _resync(self, meas: Measurement, gain: float) -> None:
        self.preview.state[0] += gain * (meas.com_m[:2] - self.preview.state[0])
        self.preview.state[1] += gain * (meas.com_vel_mps[:2] - self.preview.state[1])

    def _ramp_command(self, command: VelocityCommand) -> VelocityCommand:
        """Clamp to the envelope, then move the internal command towards it at bounded rates."""
        return self._shaping.step(self._command, command, self.config.control_dt_s)

    # -- gait timeline ---------------------------------------------------------------------
    def _cycle_times(self) -> tuple[float, float]:
        """(lift-off, touchdown) times of the current cycle."""
        lift = self._cycle_t0_s + self._ds_s
        return lift, lift + self._ss_s

    def _in_single_support(self, t: float) -> bool:
        lift, land = self._cycle_times()
        return lift <= t < land

    def _update_gait(self, t: float, command: VelocityCommand, meas: Measurement) -> None:
        gait = self.config.gait
        eps = 1e-6
        if not self._stepping:
            if not command.is_zero or not is_aligned(self._feet[0], LEFT, self._feet[1], gait):
                self._start_walking(t, command, meas)
            return
        lift, land = self._cycle_times()
        swing_side = 1 - self._stance
        if not self._lifted and t >= lift - eps:
            self._reanchor(meas)
            self._lifted = True
            self._swing_pose = self._feet[swing_side].copy()
            self._swing_vel = np.zeros(3)
        sole_z_m = meas.sole_z_m[swing_side]
        if self._lifted and t < land - eps and self._landed_early(t, lift, sole_z_m):
            # The body tilted or sank (a push) and the swing sole met the ground before its
            # time: it lands now, at the plan's swing pose of this tick (below; the measured
            # pose differs by the tracking error, and taking it would jump the plan). Dragged
            # on to the target under load, it spun the robot past the gyro limit.
            self._ss_s = t - lift
            self._replan = True
            land = t
        if t >= land - eps:
            # Where the swing plan put the sole: the target, unless the swing's speed limit
            # (or an early touchdown) left it short.
            self._target = self._swing_pose.copy()
            self._feet[swing_side] = self._target
            old_stance = self._stance
            if command.is_zero and is_aligned(self._feet[swing_side], swing_side, self._feet[old_stance], gait):
                self._stepping = False
                self._phase = 0.0
                self._zmp_from = self._feet[old_stance][:2].copy()
                self._shift_t0_s = land
                return
            self._begin_cycle(land, swing_side, None, self._feet[old_stance][:2], command)
            if np.linalg.norm(self._dcm_error(meas)) > self.config.step_deadband_m:
                self._ss_s = self.config.recovery_single_support_s
                self._hurried = True
        frac = (t - self._cycle_t0_s) / (self._ds_s + self._ss_s)
        self._phase = 0.5 * ((0.0 if self._stance == LEFT else 1.0) + min(frac, 0.999))

    def _landed_early(self, t: float, lift: float, sole_z_m: float) -> bool:
        c = self.config
        height = sole_z_m - self._ground_z_m
        if c.early_touchdown_m <= 0.0 or height >= c.early_touchdown_m:
            return False
        phase = (t - lift) / self._ss_s
        if self._hurried:
            return phase >= c.early_touchdown_hurried_phase
        return swing.height_m(phase, c.gait.swing_height_m) - height > c.early_touchdown_gap_m

    def _start_walking(self, t: float, command: VelocityCommand, meas: Measurement) -> None:
        self._reanchor(meas, both=True)
        # The first swing foot is the one on the side the robot moves or turns to.
        lead = command.vy_mps if command.vy_mps != 0.0 else command.yaw_rate_radps
        swing_side = LEFT if lead >= 0.0 else 1 - LEFT
        zmp_now = self._stand_zmp(t)
        self._stepping = True
        self._begin_cycle(t, 1 - swing_side, self.config.gait.start_shift_s, zmp_now, command)

    def _begin_cycle(self, t0: float, stance: int, ds_s: float | None, zmp_from: np.ndarray,
                     command) -> None:  # fmt: skip
        """A cycle from t0: ``ds_s`` of weight shift (None: a walking cycle's double support),
        then single support, at the cadence of the command's forward speed."""
        self._gait_now = self.config.gait.at_speed(command.vx_mps)
        self._cycle_t0_s = t0
        self._stance = stance
        self._ds_s = self._gait_now.double_support_s if ds_s is None else ds_s
        self._ss_s = self._gait_now.single_support_s
        self._hurried = False
        self._zmp_from = np.array(zmp_from, dtype=float)
        self._lifted = False
        self._capture_cycle = False
        self._adjusting = False
        self._cycle_index += 1
        self._target = step_target(self._feet[stance], stance, command, self._gait_now)

    def _reanchor(self, meas: Measurement, both: bool = False) -> None:
        """Move the plan rigidly so the planned stance sole lies on the measured one."""
        if both:
            self._feet = meas.soles.copy()
            return
        s = self._stance
        planned, measured = self._feet[s], meas.soles[s]
        dyaw = wrap_rad(measured[2] - planned[2])
        R = rot2(dyaw)
        shift = measured[:2] - R @ planned[:2]
        self._feet[:, :2] = self._feet[:, :2] @ R.T + shift
        self._feet[:, 2] += dyaw
        self._target[:2] = R @ self._target[:2] + shift
        self._target[2] += dyaw
        self._zmp_from = R @ self._zmp_from + shift
        self.preview.transform(R, shift)
        if self.config.resync_gain > 0.0:
            self._resync(meas, self.config.resync_gain)

    def _update_swing_target(self, t: float, command: VelocityCommand, dcm_err: np.ndarray,
                             meas: Measurement) -> None:  # fmt: skip
        c, gait = self.config, self.config.gait
        lift, land = self._cycle_times()
        if (t - lift) / self._ss_s > gait.target_freeze:
            return
        s = self._stance
        nominal = step_target(self._feet[s], s, command, self._gait_now)
        if self._capture_cycle and c.capture_aim_dcm:
            aim = self._dcm_at_touchdown(meas, land - t)
            self._target = clip_target(self._feet[s], s, np.r_[aim, nominal[2]], gait)
            return
        gain = c.capture_step_gain if self._capture_cycle else c.step_gain
        # Once the error leaves the dead band the step follows all of it until touchdown
        # (subtracting the band instead under-stepped every push by band x e^(w T)).
        self._adjusting |= bool(np.linalg.norm(dcm_err) > c.step_deadband_m)
        shift = gain * dcm_err * np.exp(self._omega * (land - t)) * float(self._adjusting)
        if not self._adjusting and c.lateral_step_gain > 0.0:
            heading = rot2(self._feet[s][2])
            side = float((heading.T @ dcm_err)[1])
            side = np.sign(side) * max(abs(side) - c.lateral_step_band_m, 0.0)
            lateral = c.lateral_step_gain * side * np.exp(self._omega * (land - t))
            shift = heading @ np.array([0.0, lateral])
        norm = np.linalg.norm(shift)
        if norm > c.step_limit_m:
            shift *= c.step_limit_m / norm
        self._target = clip_target(self._feet[s], s, nominal + np.r_[shift, 0.0], gait)

    def _dcm_at_touchdown(self, meas: Measurement, remaining_s: float) -> np.ndarray:
        """The measured DCM after ``remaining_s`` of the LIPM with its COP held at the stance
        sole's edge nearest the DCM (xi' = omega (xi - cop))."""
        stance = meas.soles[self._stance]
        dcm = meas.com_m[:2] + meas.com_vel_mps[:2] / self._omega
        heading = rot2(stance[2])
        fwd, back, side = self.config.capture_cop_edge_m
        offset = np.clip(heading.T @ (dcm - stance[:2]), [-back, -side], [fwd, side])
        cop = stance[:2] + heading @ offset
        return cop + (dcm - cop) * np.exp(self._omega * remaining_s)

    def _nominal_swing_peak_mps(self) -> float:
        """Peak horizontal speed of a nominal swing at the command's forward speed: the cubic's
        1.5 x the mean, the sole travelling 2 v T in single support (1.71 m/s at 0.4 m/s)."""
        now = self._gait_now
        return 3.0 * abs(self._command.vx_mps) * now.cycle_s / now.single_support_s

    def _advance_swing(self, t: float) -> float:
        """Move the swing foot's plan to t + dt; returns its sole height then."""
        if not (self._stepping and self._lifted):
            return 0.0
        dt = self.config.control_dt_s
        gait = self.config.gait
        lift, land = self._cycle_times()
        hold = gait.swing_hold * self._ss_s
        cap = self.config.max_swing_speed_mps
        if cap > 0.0:
            # Never below a nominal step's peak at this speed (at 0.4 m/s under the cap; on
            # the quicker steps of faster walking the cap would land every step short).
            cap = max(cap, self._nominal_swing_peak_mps())
        if t + dt > lift + hold:
            remaining = max(land - hold - t, 0.0)
            self._swing_pose, self._swing_vel = swing.advance(
                self._swing_pose, self._swing_vel, self._target, remaining, dt, cap
            )
        return swing.height_m((t + dt - lift) / self._ss_s, gait.swing_height_m)

    # -- references ------------------------------------------------------------------------
    def _stand_zmp(self, t: float) -> np.ndarray:
        a = np.clip((t - self._shift_t0_s) / self.config.gait.stop_shift_s, 0.0, 1.0)
        return (1 - a) * self._zmp_from + a * midpoint(self._feet)

    def _zmp_reference(self, t: float) -> np.ndarray:
        """(N, 2) ZMP reference for the preview's next N ticks, from the footstep plan."""
        gait, cfg = self.config.gait, self.preview.config
        n, dt = cfg.horizon_ticks, cfg.dt_s
        times = t + dt * np.arange(1, n + 1)
        if not self._stepping:
            pts = [(self._shift_t0_s, self._zmp_from),
                   (self._shift_t0_s + gait.stop_shift_s, midpoint(self._feet))]  # fmt: skip
        else:
            pts = self._walking_zmp_points(t + n * dt)
        tp = np.array([p[0] for p in pts])
        xy = np.array([p[1] for p in pts])
        return np.stack([np.interp(times, tp, xy[:, 0]), np.interp(times, tp, xy[:, 1])], axis=1)

    def _walking_zmp_points(self, until_s: float) -> list[tuple[float, np.ndarray]]:
        command = self._command
        gait = self.config.gait.at_speed(command.vx_mps)  # the cycles to come
        feet = self._feet.copy()
        stance, target = self._stance, self._target.copy()
        lift, land = self._cycle_times()
        pts = [(self._cycle_t0_s, self._zmp_from), (lift, feet[stance, :2].copy()), (land, feet[stance, :2].copy())]
        while land < until_s:
            landed = 1 - stance
            feet[landed] = target
            if command.is_zero and is_aligned(feet[landed], landed, feet[stance], gait):
                pts.append((land + gait.stop_shift_s, midpoint(feet)))
                break
            stance = landed
            pts.append((land + gait.double_support_s, feet[stance, :2].copy()))
            land += gait.cycle_s
            pts.append((land, feet[stance, :2].copy()))
            target = step_target(feet[stance], stance, command, gait)
        return pts

    def _load_left(self, t: float) -> float:
        """Planned share of the weight on the left sole at t, from the ZMP reference."""
        if self._stepping and self._lifted and self._in_single_support(t):
            return 1.0 if self._stance == LEFT else 0.0
        zmp = self.preview.zmp_xy_m()
        left, right = self._feet[0, :2], self._feet[1, :2]
        axis = left - right
        return float(np.clip((zmp - right) @ axis / (axis @ axis), 0.0, 1.0))

    # -- whole body ------------------------------------------------------------------------
    def _feet_targets(self, swing_height_m: float) -> np.ndarray:
        """(2, 4) sole x, y, z, yaw for the IK."""
        feet = np.zeros((2, 4))
        feet[:, [0, 1, 3]] = self._feet
        feet[:, 2] = self._ground_z_m
        if self._stepping and self._lifted:
            sw = 1 - self._stance
            feet[sw, [0, 1, 3]] = self._swing_pose
            feet[sw, 2] += swing_height_m
        return feet

    def _solve_plan(self, t: float, preview_state: np.ndarray, swing_height_m: float, q_warm: np.ndarray) -> dict:
        """Joint targets (29,), pelvis position (3,) and yaw of the plan at time t."""
        c = self.config
        feet = self._feet_targets(swing_height_m)
        a = np.clip((t - self._t0_s) / c.posture_ramp_s, 0.0, 1.0)
        a = a * a * (3 - 2 * a)
        z = self._ground_z_m + (1 - a) * self._z0_m + a * c.pelvis_height_m
        yaw = feet[0, 3] + wrap_rad(feet[1, 3] - feet[0, 3]) / 2
        q_warm = q_warm.copy()
        q_warm[g1.WAIST_JOINTS.start :] = self._upper[g1.WAIST_JOINTS.start :]
        left_lead = float((rot2(yaw).T @ (feet[0, :2] - feet[1, :2]))[0])
        q_warm[_J["waist_yaw_joint"]] += c.torso_counter_yaw_radpm * left_lead
        q, pelvis, self._com_offset = self.body.solve_ik(
            preview_state[0], z, yaw, feet, q_warm, self._com_offset
        )
        return {"q": q, "pelvis": pelvis, "yaw": yaw}

    def _nominal_com_height_m(self) -> float:
        """CoM height above the soles in the walking posture (the LIPM's z_c)."""
        c = self.config
        w = c.gait.stance_width_m / 2
        feet = np.array([[0.0, w, 0.0, 0.0], [0.0, -w, 0.0, 0.0]])
        q = np.array(g1.KNEES_BENT_POSE_RAD)
        for _ in range(3):
            q, _, self._com_offset = self.body.solve_ik(
                np.zeros(2), c.pelvis_height_m, 0.0, feet, q, self._com_offset
            )
        return float(self.body.com_m(self.body.ik_data)[2])
