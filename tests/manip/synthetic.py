"""Synthetic depth video of a rigid object: dense surface points z-buffered into pixels."""

import numpy as np

from humanoid_teleop.manip.geometry import project_points

H, W = 240, 320
K = np.array([[300.0, 0.0, 159.5], [0.0, 300.0, 119.5], [0.0, 0.0, 1.0]])
WALL_DEPTH_M = 1.2


def box_surface(size, center, spacing=0.0015):
    """Points on the surface of an axis-aligned box."""
    pts = []
    size, center = np.asarray(size), np.asarray(center)
    for axis in range(3):
        a, b = [i for i in range(3) if i != axis]
        ga = np.arange(-size[a] / 2, size[a] / 2 + 1e-9, spacing)
        gb = np.arange(-size[b] / 2, size[b] / 2 + 1e-9, spacing)
        A, B = np.meshgrid(ga, gb, indexing="ij")
        for sign in (-1, 1):
            p = np.zeros((A.size, 3))
            p[:, a], p[:, b], p[:, axis] = A.ravel(), B.ravel(), sign * size[axis] / 2
            pts.append(p + center)
    return np.concatenate(pts)


def object_points():
    """An asymmetric object (three boxes), object frame, metres."""
    return np.concatenate([
        box_surface([0.10, 0.04, 0.04], [0.0, 0.0, 0.0]),
        box_surface([0.03, 0.08, 0.03], [0.035, 0.05, 0.0]),
        box_surface([0.025, 0.025, 0.05], [-0.04, 0.0, -0.035]),
    ])  # fmt: skip


def render_depth(points_c, wall_depth_m=WALL_DEPTH_M):
    """Z-buffer splat of dense camera-frame surface points in front of a wall."""
    depth = np.full(H * W, wall_depth_m)
    uv = np.round(project_points(points_c, K)).astype(int)
    ok = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
    np.minimum.at(depth, uv[ok, 1] * W + uv[ok, 0], points_c[ok, 2])
    return depth.reshape(H, W)


def carried_object_scene(frames: int = 20):
    """The right hand carries the object along a smooth path; a camera 0.6 m in front of
    the start position looks back at the robot (the hand itself is not rendered).

    Returns (kinematics, joint path (T, 29), palm poses (T, 4, 4), object poses in the
    pelvis frame (T, 4, 4), T_pelvis_cam (4, 4), depth frames (T, H, W))."""
    from scipy.spatial.transform import Rotation

    from humanoid_teleop.manip.arm import ArmKinematics
    from humanoid_teleop.manip.geometry import apply_transform, make_transform
    from humanoid_teleop.manip.reach import ready_pose_rad

    kin = ArmKinematics("right")
    q0 = ready_pose_rad("right")
    s = np.linspace(0, 1, frames)[:, None]
    s = s * s * (3 - 2 * s)
    q_path = np.tile(q0, (len(s), 1))
    q_path[:, kin.arm_joints] += s * np.array([-0.3, -0.15, 0.2, -0.3, 0.2, 0.1, 0.0])
    hand = np.stack([kin.forward(q) for q in q_path])
    T_hand_obj = make_transform(Rotation.from_euler("xyz", [0.3, 0.1, -0.2]).as_matrix(),
                                [0.03, 0.0, -0.06])  # fmt: skip
    T_pelvis_obj = hand @ T_hand_obj
    # Camera axes in the pelvis frame: z (optical) backwards, x left, y down.
    R_pelvis_cam = np.stack([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]], axis=1)
    T_pelvis_cam = make_transform(R_pelvis_cam, T_pelvis_obj[0, :3, 3] + [0.6, 0.0, 0.0])
    pts = object_points()
    T_cam_pelvis = np.linalg.inv(T_pelvis_cam)
    depths = np.stack([render_depth(apply_transform(T_cam_pelvis @ T, pts)) for T in T_pelvis_obj])
    return kin, q_path, hand, T_pelvis_obj, T_pelvis_cam, depths
