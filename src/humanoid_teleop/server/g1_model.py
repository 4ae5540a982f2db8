"""``/models/g1/g1.json``: the kinematic description the browser's 3D view draws the G1 with.

Read from the MJCF through ``MjSpec`` *before* compiling: compilation re-centres meshes on
their inertia frame and moves the geoms to match, but the browser loads the STL files as
they are, so it needs the geom poses as written. (mjlab's G1 MJCF gives every orientation as a
quaternion, so ``quat`` is the whole story.)

Shape::

    {"floating_base": "pelvis", "joint_names": [29, motor order], "mesh_url": "/models/g1/",
     "bodies": [{"name", "parent", "pos": [3], "quat_wxyz": [4],
                 "joint": {"name", "axis": [3]} | null,
                 "meshes": [{"file", "pos": [3], "quat_wxyz": [4], "rgba": [4]}],
                 "shapes": [{"type": "capsule", "from": [3], "to": [3], "radius"}
                            | {"type": "sphere", "pos": [3], "radius"}]}]}

``shapes`` are the collision capsules and spheres the physics uses: a browser without a GPU
draws them instead of the meshes (390k triangles cost a software rasteriser about half a
second of the page's main thread per frame).

Bodies come parents first; positions and quaternions are in the parent (body) frame.
"""

from __future__ import annotations

import numpy as np

from humanoid_teleop import g1


def _list(values) -> list[float]:
    return [round(float(v), 6) for v in np.asarray(values).ravel()]


def _collision_shapes(body, mujoco) -> list[dict]:
    shapes = []
    for g in body.geoms:
        if g.type == mujoco.mjtGeom.mjGEOM_SPHERE:
            shapes.append({"type": "sphere", "pos": _list(g.pos), "radius": float(g.size[0])})
        elif g.type == mujoco.mjtGeom.mjGEOM_CAPSULE:
            if np.isnan(g.fromto[0]):  # given as pos + quat + half-length along local z
                half = np.zeros(3)
                mujoco.mju_rotVecQuat(half, np.array([0.0, 0.0, g.size[1]]), np.asarray(g.quat))
                ends = np.asarray(g.pos) - half, np.asarray(g.pos) + half
            else:
                ends = np.asarray(g.fromto[:3]), np.asarray(g.fromto[3:])
            shapes.append({"type": "capsule", "from": _list(ends[0]), "to": _list(ends[1]),
                           "radius": float(g.size[0])})  # fmt: skip
    return shapes


def g1_description() -> dict:
    import mujoco

    from humanoid_teleop.sim.model import g1_xml_path

    spec = mujoco.MjSpec.from_file(str(g1_xml_path()))
    mesh_files = {m.name: m.file for m in spec.meshes}
    bodies, floating_base = [], None
    for body in spec.bodies:  # depth-first: parents before children
        if body.name == "world":
            continue
        joint = None
        for j in body.joints:
            if j.type == mujoco.mjtJoint.mjJNT_FREE:
                floating_base = body.name
            elif j.type == mujoco.mjtJoint.mjJNT_HINGE:
                joint = {"name": j.name, "axis": _list(j.axis)}
        meshes = [
            {"file": mesh_files[g.meshname], "pos": _list(g.pos), "quat_wxyz": _list(g.quat),
             "rgba": _list(g.rgba)}
            for g in body.geoms
            if g.type == mujoco.mjtGeom.mjGEOM_MESH and g.meshname in mesh_files
        ]  # fmt: skip
        bodies.append({
            "name": body.name, "parent": body.parent.name if body.parent else None,
            "pos": _list(body.pos), "quat_wxyz": _list(body.quat), "joint": joint,
            "meshes": meshes, "shapes": _collision_shapes(body, mujoco),
        })  # fmt: skip
    joints_in_model = [b["joint"]["name"] for b in bodies if b["joint"]]
    if tuple(joints_in_model) != g1.JOINT_NAMES:
        raise RuntimeError(f"G1 model joints differ from the motor order: {joints_in_model[:4]}")
    return {"floating_base": floating_base or "pelvis", "joint_names": list(g1.JOINT_NAMES),
            "mesh_url": "/models/g1/", "bodies": bodies}  # fmt: skip
