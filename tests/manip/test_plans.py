"""Plan jobs without the server: request checks (what the service answers 422 with), the
visual planner end to end with a tiny random diffusers checkpoint, rigvid end to end on a
synthetic depth video, and their CLI commands."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.cli import main
from humanoid_teleop.manip.arm import rotation_angle_rad
from humanoid_teleop.manip.geometry import apply_transform
from humanoid_teleop.manip.plans import (
    PLAN_ARTIFACTS,
    PLAN_FRAMES,
    ArmPlanRequest,
    ImagePlannerSource,
    PlanRequestError,
    RigvidInput,
    RigvidPlanRequest,
    VisualPlanRequest,
    decode_image,
    read_png,
    run_arm_plan,
    run_visual_plan,
)
from tests.manip.synthetic import K, carried_object_scene


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "points: required"),
        ({"points": [[0.1, 0.2]]}, "points of 3 numbers"),
        ({"points": [[0.1, float("nan"), 0.2]]}, "finite"),
        ({"points": [[0.1, 0.0, 9.0]]}, "beyond"),
        ({"points": "up"}, "3 numbers"),
        ({"points": [[0, 0, 0]], "side": "middle"}, "side"),
        ({"points": [[0, 0, 0]], "speed_mps": 0}, "speed_mps"),
        ({"points": [[0, 0, 0]], "speed_mps": True}, "speed_mps"),
        ({"points": [[0, 0, 0]], "relative": "yes"}, "relative"),
        ({"points": [[0, 0, 0]], "sped": 0.1}, "unknown fields ['sped']"),
        ([[0, 0, 0]], "JSON object"),
    ],
)
def test_arm_requests_are_checked(body, words):
    with pytest.raises(PlanRequestError, match=re.escape(words)):
        ArmPlanRequest.from_json(body)


def test_arm_request_round_trips():
    body = {"points": [[0.1, 0.0, 0.1]], "side": "left", "relative": True, "speed_mps": 0.2}
    assert ArmPlanRequest.from_json(body).to_json() == body


def test_visual_requests_are_checked():
    with pytest.raises(PlanRequestError, match="instruction, a trajectory, or both"):
        VisualPlanRequest.from_json({"instruction": "   "})
    with pytest.raises(PlanRequestError, match="trajectory"):
        VisualPlanRequest.from_json({"trajectory": [[1, 2]]})  # one point is no arrow
    request = VisualPlanRequest.from_json({"trajectory": [[1, 2], [63, 47]]})
    request.check_frame(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(PlanRequestError, match="inside the 32x48 image"):
        request.check_frame(np.zeros((48, 32, 3), np.uint8))
    with pytest.raises(PlanRequestError, match="not a decodable"):
        decode_image(b"GIF89a not really")
    _, png = cv2.imencode(".png", np.zeros((8, 64, 3), np.uint8))
    with pytest.raises(PlanRequestError, match="sides of 16"):
        decode_image(png.tobytes())


def _rigvid_arrays(frames: int = 3) -> dict:
    depth = np.full((frames, 24, 32), 1.0)
    mask = np.zeros((24, 32), bool)
    mask[8:16, 10:20] = True
    return {"depth": depth, "K": K, "mask": mask, "T_pelvis_cam": np.eye(4)}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda a: a.pop("K"), r"missing arrays \['K'\]"),
        (lambda a: a.update(extra=np.zeros(2)), r"unknown arrays \['extra'\]"),
        (lambda a: a.update(depth=np.ones((1, 24, 32))), "2..600 frames"),
        (lambda a: a.update(mask=np.zeros((24, 31), bool)), r"mask: expected .*\(24, 32\)"),
        (lambda a: a.update(mask=np.zeros((24, 32), bool)), "selects no pixel"),
        (lambda a: a.update(K=np.zeros((3, 3))), "positive focal lengths"),
        (lambda a: a.update(T_pelvis_cam=np.full((4, 4), 2.0)), "rigid"),
        (lambda a: a.update(rgb=np.zeros((3, 24, 32, 3), np.float32)), "rgb: expected uint8"),
        (lambda a: a.update(depth=np.array(["a"] * 3)), "depth: expected"),
    ],
)
def test_rigvid_inputs_are_checked(tmp_path, change, words):
    arrays = _rigvid_arrays()
    change(arrays)
    np.savez(tmp_path / "in.npz", **arrays)
    with pytest.raises(PlanRequestError, match=words):
        RigvidInput.load(tmp_path / "in.npz")


def test_rigvid_refuses_pickles_and_non_npz(tmp_path):
    np.savez(tmp_path / "obj.npz", depth=np.array([{"a": 1}], dtype=object))
    (tmp_path / "text.npz").write_text("not a zip")
    for name in ("obj.npz", "text.npz"):
        with pytest.raises(PlanRequestError, match="readable .npz"):
            RigvidInput.load(tmp_path / name)
    np.savez(tmp_path / "ok.npz", **_rigvid_arrays())
    data = RigvidInput.load(tmp_path / "ok.npz")
    with pytest.raises(PlanRequestError, match="grasp_index: expected 0..2"):
        data.check(RigvidPlanRequest(grasp_index=3))
    with pytest.raises(PlanRequestError, match="fps"):
        RigvidPlanRequest.from_json({"fps": -1})


@pytest.mark.sim
def test_arm_plan_writes_a_validated_trajectory(tmp_path):
    stages = []
    request = ArmPlanRequest.from_json({"points": [[0.08, 0.0, 0.1]], "relative": True})
    report = run_arm_plan(request, tmp_path, lambda stage, f: stages.append((stage, f)))
    assert report["passed"], report["validation"]
    assert report["validation"]["max_tracking_error_rad"] <= 0.1
    assert report["tolerance"]["tracking_tolerance_rad"] == 0.1
    assert {p.name for p in tmp_path.iterdir()} == set(PLAN_ARTIFACTS["arm"])  # no .work-*
    npz = np.load(tmp_path / "trajectory.npz")
    assert npz["q_rad"].shape == (len(report["q_traj_rad"]), g1.NUM_JOINTS)
    assert tuple(npz["joint_names"]) == g1.JOINT_NAMES
    # The twin's joints followed the plan: the measured right arm ends where the plan does.
    final = npz["q_measured_rad"][-1, g1.RIGHT_ARM]
    np.testing.assert_allclose(final, npz["q_rad"][-1, g1.RIGHT_ARM], atol=0.1)
    assert [s for s, _ in stages][:2] == ["ik", "validate"] and stages[-1] == ("write", 1.0)
    assert json.loads((tmp_path / "report.json").read_text())["passed"] is True


# -- the visual planner with a tiny random diffusers checkpoint ---------------------------------


@pytest.fixture(scope="module")
def tiny_planner(tmp_path_factory):
    pytest.importorskip("diffusers", reason="pip install -e '.[manip]' (make setup)")
    from humanoid_teleop.manip.tiny_planner import build_tiny_image_planner

    return build_tiny_image_planner(tmp_path_factory.mktemp("tiny-sd"))


def test_visual_plan_end_to_end_with_a_tiny_pipeline(tiny_planner, tmp_path):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    request = VisualPlanRequest.from_json(
        {"instruction": "put the cup on the plate", "trajectory": [[5, 40], [30, 20], [60, 8]]}
    )
    source = ImagePlannerSource(tiny_planner, steps=2)
    report = run_visual_plan(request, frame, source.load, tmp_path, model=str(tiny_planner))
    grid = read_png(tmp_path / "grid.png")
    assert grid.shape == (3 * 48, 3 * 64, 3) and report["grid_size"] == [192, 144]
    np.testing.assert_array_equal(grid[:48, :64], frame)  # the plan starts at the given frame
    frames = [read_png(tmp_path / name) for name in PLAN_FRAMES]
    assert all(f.shape == frame.shape for f in frames)
    assert not np.array_equal(frames[1], frame)  # generated, not copied
    overlay = read_png(tmp_path / "overlay.png")
    assert (overlay != frame).any(axis=2).sum() > 50  # the arrow is drawn
    assert "red arrow" in report["prompt"] and "put the cup on the plate" in report["prompt"]
    assert (tmp_path / "preview.mp4").read_bytes()[4:8] == b"ftyp"
    assert not list(tmp_path.glob(".work-*"))


def test_visual_planner_source_says_what_is_missing(tmp_path, tiny_planner):
    assert "HT_IMAGE_PLANNER_PATH" in ImagePlannerSource().problem()
    assert "model_index.json" in ImagePlannerSource(tmp_path).problem()
    assert "LoRA" in ImagePlannerSource(tiny_planner, tmp_path / "nope").problem()
    assert ImagePlannerSource(tiny_planner).problem() is None


def test_plan_visual_cli(tiny_planner, tmp_path, capsys):
    image = tmp_path / "first.png"
    cv2.imwrite(str(image), np.full((32, 48, 3), 90, np.uint8))
    out = tmp_path / "out"
    rc = main(["plan", "visual", str(image), "--out", str(out), "--model", str(tiny_planner),
               "--instruction", "open the drawer", "--steps", "2"])  # fmt: skip
    assert rc == 0
    assert json.loads(capsys.readouterr().out.split("\nartifacts")[0])["grid_size"] == [144, 96]
    assert read_png(out / "grid.png").shape == (96, 144, 3)
    assert not (out / "overlay.png").exists()  # no trajectory, no overlay
    assert main(["plan", "visual", str(image), "--out", str(out), "--model", str(tmp_path)]) == 2
    assert "instruction, a trajectory" in capsys.readouterr().err


# -- rigvid ------------------------------------------------------------------------------------


@pytest.mark.sim
def test_plan_rigvid_cli_follows_the_carried_object(tmp_path, capsys):
    _, _, hand, T_pelvis_obj, T_pelvis_cam, depths = carried_object_scene()
    rgb = np.repeat((depths[..., None] * 100).astype(np.uint8), 3, axis=-1)
    np.savez(tmp_path / "in.npz", depth=depths, K=K, mask=depths[0] < 1.0,
             T_pelvis_cam=T_pelvis_cam, rgb=rgb)  # fmt: skip
    out = tmp_path / "out"
    assert main(["plan", "rigvid", str(tmp_path / "in.npz"), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["passed"] and report["frames"] == len(depths)
    objects = json.loads((out / "object_trajectory.json").read_text())
    # The tracked object moved as it was carried: its motion since frame 0 (the same for
    # any frame fixed on the object) matches the truth, and so does the path of the tracked
    # frame's origin (the object's first-frame centroid).
    tracked = np.asarray(objects["T_pelvis_obj"])
    motion = tracked @ np.linalg.inv(tracked[0])
    truth = T_pelvis_obj @ np.linalg.inv(T_pelvis_obj[0])
    expected = [apply_transform(T, tracked[0, :3, 3]) for T in truth]
    np.testing.assert_allclose(tracked[:, :3, 3], expected, atol=0.01)
    angles = [rotation_angle_rad(a[:3, :3], b[:3, :3]) for a, b in zip(motion, truth)]
    assert np.degrees(max(angles)) < 5.0  # the ICP tracker's accuracy (test_rigvid)
    # The palm targets follow the hand that carried it (the grasp is the ready pose's palm).
    targets = np.asarray(objects["hand_targets_pelvis"])
    np.testing.assert_allclose(targets[:, :3, 3], hand[:, :3, 3], atol=0.01)
    assert read_png(out / "track.png").shape == rgb.shape[1:]
    assert set(PLAN_ARTIFACTS["rigvid"]) <= {p.name for p in out.iterdir()}
    capsys.readouterr()
    np.savez(tmp_path / "bad.npz", depth=depths, K=K)
    assert main(["plan", "rigvid", str(tmp_path / "bad.npz"), "--out", str(out)]) == 2
    assert "missing arrays" in capsys.readouterr().err
