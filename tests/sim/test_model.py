"""The compiled twin matches G1_FACTS.md: joint order, limits, torque limits, armature, scene."""

import mujoco
import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.sim.model import ModelIndex, build_model, g1_mesh_dir

FACTS_ORDER = (
    "left_hip_pitch left_hip_roll left_hip_yaw left_knee left_ankle_pitch left_ankle_roll "
    "right_hip_pitch right_hip_roll right_hip_yaw right_knee right_ankle_pitch right_ankle_roll "
    "waist_yaw waist_roll waist_pitch "
    "left_shoulder_pitch left_shoulder_roll left_shoulder_yaw left_elbow left_wrist_roll "
    "left_wrist_pitch left_wrist_yaw right_shoulder_pitch right_shoulder_roll right_shoulder_yaw "
    "right_elbow right_wrist_roll right_wrist_pitch right_wrist_yaw"
).split()

# Torque limits from G1_FACTS.md, by joint kind.
FACTS_TORQUE = {"hip_pitch": 88, "hip_roll": 88, "hip_yaw": 88, "knee": 139, "ankle_pitch": 50,
                "ankle_roll": 50, "waist_yaw": 88, "waist_roll": 50, "waist_pitch": 50,
                "shoulder_pitch": 25, "shoulder_roll": 25, "shoulder_yaw": 25, "elbow": 25,
                "wrist_roll": 25, "wrist_pitch": 5, "wrist_yaw": 5}  # fmt: skip


@pytest.fixture(scope="module")
def model():
    return build_model("capsule")


def kind(name):
    return name.removeprefix("left_").removeprefix("right_").removesuffix("_joint")


def test_joint_order_is_unitree_motor_order(model):
    assert [n.removesuffix("_joint") for n in g1.JOINT_NAMES] == FACTS_ORDER
    hinges = [model.joint(j).name for j in range(model.njnt)
              if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]  # fmt: skip
    assert tuple(hinges) == g1.JOINT_NAMES
    assert [model.actuator(i).name for i in range(model.nu)] == list(g1.JOINT_NAMES)


def test_position_limits_match_facts_and_model(model):
    idx = ModelIndex.of(model)
    jids = [model.joint(n).id for n in g1.JOINT_NAMES]
    np.testing.assert_allclose(model.jnt_range[jids], g1.POSITION_LIMITS_RAD, atol=1e-4)
    hip_roll = g1.JOINT_INDEX["right_hip_roll_joint"]
    np.testing.assert_allclose(g1.POSITION_LIMITS_RAD[hip_roll], [-2.9671, 0.5236])
    assert idx.joint_qpos[0] == 7 and idx.joint_dof[0] == 6


def test_torque_limits_match_facts(model):
    idx = ModelIndex.of(model)
    expected = [FACTS_TORQUE[kind(n)] for n in g1.JOINT_NAMES]
    np.testing.assert_allclose(idx.torque_limit_nm, expected)
    np.testing.assert_allclose(g1.TORQUE_LIMIT_NM, expected)


def test_armature_floor_sensors_keyframes(model):
    dofs = [model.joint(n).dofadr[0] for n in g1.JOINT_NAMES]
    np.testing.assert_allclose(model.dof_armature[dofs], g1.ARMATURE_KGM2)
    assert model.dof_armature[g1.JOINT_INDEX["left_knee_joint"] + 6] == pytest.approx(0.0251)
    assert model.geom("floor").type == mujoco.mjtGeom.mjGEOM_PLANE
    assert model.geom("left_foot1_collision").friction[0] == pytest.approx(0.6)
    assert model.opt.timestep == pytest.approx(0.002)
    for name in ("imu_quat", "imu_ang_vel", "imu_lin_acc"):
        assert model.sensor(name).id >= 0
    home = model.key("home").qpos
    assert home[2] == pytest.approx(0.7837)
    np.testing.assert_allclose(home[7:], g1.HOME_POSE_RAD)
    assert model.key("knees_bent").qpos[7 + g1.JOINT_INDEX["left_knee_joint"]] == pytest.approx(
        0.669
    )
    assert model.camera("head").id >= 0
    assert sum(model.body_mass) == pytest.approx(33.34, abs=0.05)


def test_capsule_variant_has_the_same_physics_as_meshes(model):
    meshes = build_model("mesh")
    assert meshes.nmesh > 0 and model.nmesh == 0
    np.testing.assert_allclose(meshes.body_mass, model.body_mass)
    np.testing.assert_allclose(meshes.body_inertia, model.body_inertia)
    collide = lambda m: sorted(m.geom(i).name for i in range(m.ngeom) if m.geom_contype[i])  # noqa: E731
    assert collide(meshes) == collide(model)
    assert (g1_mesh_dir() / "pelvis.STL").is_file()


def test_unknown_variant_is_rejected():
    with pytest.raises(ValueError, match="variant"):
        build_model("voxels")
