"""The G1 twin's MuJoCo model: mjlab's G1 MJCF edited with MjSpec into a simulatable scene.

The MJCF ships without actuators, floor, keyframes or armature. We add:
- a floor and foot friction 0.6 / condim 3,
- the motors' reflected inertia as joint armature (see ``g1.ARMATURE_KGM2``),
- one torque motor per joint (gear 1, clamped to the joint's torque limit); the PD law runs
  in ``MujocoRobot`` at the physics rate, exactly like the G1's motor drivers,
- a pelvis IMU orientation sensor (the MJCF already has gyro/accelerometer/velocimeter),
- keyframes ``home`` and ``knees_bent``, and an egocentric ``head`` camera.

Variant ``mesh`` draws the STL meshes (393k triangles); ``capsule`` deletes them and draws the
collision capsules: physics is identical (visual meshes have no mass and no contacts), only
compile time and rendering speed differ.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mujoco
import numpy as np

from humanoid_teleop import g1

Variant = Literal["mesh", "capsule"]
VARIANTS: tuple[str, ...] = ("mesh", "capsule")
FOOT_FRICTION = 0.6
IMU_SITE = "imu_in_pelvis"
FOOT_SITES = ("left_foot", "right_foot")
HEAD_CAMERA = "head"


class ModelNotFoundError(RuntimeError):
    """The G1 MJCF (a data dependency: ``pip install --no-deps mjlab==1.6.0``) is missing."""


def g1_xml_path() -> Path:
    spec = importlib.util.find_spec("mjlab")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the G1 model comes from the mjlab package; install it as data with "
            "`pip install --no-deps mjlab==1.6.0` (make setup does this)"
        )
    path = Path(spec.submodule_search_locations[0]) / "asset_zoo/robots/unitree_g1/xmls/g1.xml"
    if not path.is_file():
        raise ModelNotFoundError(f"mjlab is installed but {path} is missing (need mjlab 1.6.0)")
    return path


def g1_mesh_dir() -> Path:
    """The STL meshes (the browser's 3D view serves them from here)."""
    return g1_xml_path().parent / "assets"


def build_spec(variant: Variant = "mesh") -> mujoco.MjSpec:
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {VARIANTS}, got {variant!r}")
    spec = mujoco.MjSpec.from_file(str(g1_xml_path()))
    spec.option.timestep = g1.PHYSICS_DT_S

    joints = {j.name: j for j in spec.joints if j.type == mujoco.mjtJoint.mjJNT_HINGE}
    if tuple(joints) != g1.JOINT_NAMES:
        raise ModelNotFoundError(
            f"unexpected G1 joint order in {g1_xml_path()}: {tuple(joints)[:4]}..."
        )
    for name, joint in joints.items():
        i = g1.JOINT_INDEX[name]
        joint.armature = float(g1.ARMATURE_KGM2[i])
        lim = float(g1.TORQUE_LIMIT_NM[i])
        motor = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        motor.gainprm[0] = 1.0  # gear 1: ctrl is joint torque (N m)
        motor.ctrlrange = [-lim, lim]
        motor.ctrllimited = True
        joint.actfrcrange = [-lim, lim]
        joint.actfrclimited = True

    for geom in spec.geoms:
        if geom.name.startswith(("left_foot", "right_foot")):
            geom.friction = [FOOT_FRICTION, 0.005, 0.0001]
            geom.condim = 3

    # A checker floor and a sky, so motion is visible in videos (display only).
    spec.add_texture(name="grid", type=mujoco.mjtTexture.mjTEXTURE_2D,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, width=512, height=512,
                     rgb1=[0.32, 0.36, 0.42], rgb2=[0.42, 0.46, 0.52])  # fmt: skip
    spec.add_texture(name="sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT, width=64, height=64,
                     rgb1=[0.55, 0.65, 0.8], rgb2=[0.1, 0.12, 0.16])  # fmt: skip
    floor_material = spec.add_material(name="floor", texrepeat=[1, 1], reflectance=0.05)
    floor_material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "grid"
    world = spec.worldbody
    world.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[0, 0, 0.05],
        friction=[FOOT_FRICTION, 0.005, 0.0001],
        condim=3,
        material="floor",
    )
    world.add_light(pos=[0, 0, 4], dir=[0, 0.2, -1], castshadow=False)
    spec.add_sensor(
        name="imu_quat",
        type=mujoco.mjtSensor.mjSENS_FRAMEQUAT,
        objtype=mujoco.mjtObj.mjOBJ_SITE,
        objname=IMU_SITE,
    )

    torso = next(b for b in spec.bodies if b.name == "torso_link")
    # Head camera: eye height on the torso, looking forward and 20 degrees down.
    pitch = np.deg2rad(20.0)
    torso.add_camera(
        name=HEAD_CAMERA,
        pos=[0.09, 0.0, 0.45],
        xyaxes=[0, -1, 0, np.sin(pitch), 0, np.cos(pitch)],
        fovy=75.0,
    )

    for name, z, pose in (
        ("home", g1.HOME_PELVIS_HEIGHT_M, g1.HOME_POSE_RAD),
        ("knees_bent", g1.KNEES_BENT_PELVIS_HEIGHT_M, g1.KNEES_BENT_POSE_RAD),
    ):
        spec.add_key(
            name=name,
            qpos=[0, 0, z, 1, 0, 0, 0, *pose],
            ctrl=np.zeros(g1.NUM_JOINTS),
        )

    if variant == "capsule":
        for geom in list(spec.geoms):
            if geom.type == mujoco.mjtGeom.mjGEOM_MESH:
                spec.delete(geom)
        for mesh in list(spec.meshes):
            spec.delete(mesh)
        for geom in spec.geoms:
            if geom.group == 3:  # collision capsules become the visible body
                geom.group = 2
                geom.rgba = [0.75, 0.75, 0.78, 1]
    return spec


@functools.lru_cache(maxsize=4)
def _compiled_xml(variant: Variant) -> str:
    return build_spec(variant).to_xml()


def build_model(variant: Variant = "capsule") -> mujoco.MjModel:
    """A fresh MjModel (callers may edit theirs); compilation is cached per variant."""
    if variant == "capsule":
        return mujoco.MjModel.from_xml_string(_compiled_xml(variant))
    return build_spec(variant).compile()


@dataclass(frozen=True)
class ModelIndex:
    """Addresses into qpos/qvel/sensordata, looked up by name once."""

    joint_qpos: np.ndarray  # (29,) qpos addresses of the hinges, motor order
    joint_dof: np.ndarray  # (29,) qvel addresses
    actuator: np.ndarray  # (29,) actuator ids
    pelvis_body: int
    gyro: slice
    accel: slice
    imu_quat: slice
    torque_limit_nm: np.ndarray  # (29,) from the compiled model's ctrlrange

    @classmethod
    def of(cls, model: mujoco.MjModel) -> ModelIndex:
        def sensor(name: str) -> slice:
            s = model.sensor(name)
            return slice(int(s.adr[0]), int(s.adr[0] + s.dim[0]))

        jq = np.array([model.joint(n).qposadr[0] for n in g1.JOINT_NAMES])
        jd = np.array([model.joint(n).dofadr[0] for n in g1.JOINT_NAMES])
        act = np.array([model.actuator(n).id for n in g1.JOINT_NAMES])
        return cls(
            joint_qpos=jq,
            joint_dof=jd,
            actuator=act,
            pelvis_body=model.body("pelvis").id,
            gyro=sensor("imu_ang_vel"),
            accel=sensor("imu_lin_acc"),
            imu_quat=sensor("imu_quat"),
            torque_limit_nm=model.actuator_ctrlrange[act, 1].copy(),
        )
