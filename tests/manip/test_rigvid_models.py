"""RIGVid's model stages: the depth stage with a tiny random DPT, the VLM success filter with a
tiny random Qwen2-VL, the regeneration loop, and the pipeline from a first RGB-D frame to an
arm trajectory."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from humanoid_teleop.manip.arm import rotation_angle_rad
from humanoid_teleop.manip.prompts import PromptError, parse_yes_no
from humanoid_teleop.manip.rigvid import NoAcceptableVideoError, Verdict, generate_until_accepted
from humanoid_teleop.manip.rigvid_models import (
    RigvidModelError,
    VlmSuccessFilter,
    align_relative_depth,
    conform_video,
    imitate_generated_video,
    load_depth_model,
    load_video_generator,
    success_filter_vlm_config,
)
from tests.manip.synthetic import K, carried_object_scene

pytest.importorskip("torch")
pytest.importorskip("transformers")

TASK = "put the cup on the plate"
# The tiny VLM's image: 2x2 merged 14 px patches -> 4 image tokens, a query of ~20 ms.
TINY_VLM = {"image_width_px": 56, "image_height_px": 56}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tests share the CPU with other work; tiny models need no more
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_dpt(tmp_path_factory):
    from humanoid_teleop.manip.tiny_depth import build_tiny_dpt

    return build_tiny_dpt(tmp_path_factory.mktemp("tiny-dpt"))


@pytest.fixture(scope="module")
def tiny_vlms(tmp_path_factory):
    """The tiny random Qwen2-VL as built (free text) and two copies whose generation config
    suppresses every token but "yes" / "no" and stops after it: the same vision + text
    forward passes, a known answer."""
    from transformers import AutoTokenizer, GenerationConfig

    from humanoid_teleop.vlm.tiny_vlm import build_tiny_qwen2_vl

    root = tmp_path_factory.mktemp("tiny-vlm")
    free = build_tiny_qwen2_vl(root / "free", words=("yes", "no"))
    vocab = AutoTokenizer.from_pretrained(free).get_vocab()
    folders = {"free": free}
    for word in ("yes", "no"):
        folder = shutil.copytree(free, root / word)
        gen = GenerationConfig.from_pretrained(folder)
        gen.suppress_tokens = sorted(i for t, i in vocab.items() if t != word)
        gen.eos_token_id = vocab[word]
        gen.save_pretrained(folder)
        folders[word] = folder
    return folders


@pytest.fixture(scope="module")
def scene():
    return carried_object_scene()


def _rgb(depth_m: np.ndarray) -> np.ndarray:
    """A grey picture of a depth frame (nearer = brighter), standing in for a camera image."""
    grey = np.clip((1.3 - depth_m) * 400.0, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


# -- depth ---------------------------------------------------------------------------------------


def test_depth_stage_runs_a_tiny_dpt_at_the_frames_size(tiny_dpt):
    depth = load_depth_model(tiny_dpt, device="cpu")
    assert depth.output == "disparity"  # a relative DPT predicts inverse depth
    frames = [np.random.default_rng(i).integers(0, 256, (45, 70, 3), dtype=np.uint8)
              for i in range(5)]  # fmt: skip
    out = depth(frames)
    assert out.shape == (5, 45, 70) and out.dtype == np.float32 and np.all(np.isfinite(out))
    assert out.std() > 0  # a map, not a constant (alignment needs a non-constant prediction)
    np.testing.assert_array_equal(depth(frames[:2]), out[:2])  # batching changes nothing
    assert not np.array_equal(out[0], out[1])  # each frame gets its own map
    assert load_depth_model(tiny_dpt, output="depth", device="cpu").output == "depth"


def test_depth_loader_says_what_is_wrong(tiny_dpt, tmp_path):
    with pytest.raises(RigvidModelError, match="no such directory"):
        load_depth_model(tmp_path / "missing")
    with pytest.raises(RigvidModelError, match="no config.json"):
        load_depth_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(RigvidModelError, match="'bert' model is not a depth-estimation model"):
        load_depth_model(tmp_path)
    no_processor = tmp_path / "no-processor"
    no_processor.mkdir()
    shutil.copy(tiny_dpt / "config.json", no_processor)
    with pytest.raises(RigvidModelError, match="no preprocessor_config.json"):
        load_depth_model(no_processor)
    with pytest.raises(RigvidModelError, match="output"):
        load_depth_model(tiny_dpt, output="metres")


def test_disparity_is_aligned_in_inverse_depth(scene):
    *_, depths = scene
    mask = depths[0] < 1.0
    relative = 0.37 / depths + 0.05  # a monocular model's disparity: affine in 1 / depth
    aligned = align_relative_depth(relative, depths[0], mask, "disparity")
    np.testing.assert_allclose(aligned.depth_m, depths, rtol=1e-9)
    assert aligned.alignment.scale == pytest.approx(1 / 0.37)
    # Read as depth, the same prediction cannot be brought onto the sensor by scale/shift.
    wrong = align_relative_depth(relative, depths[0], mask, "depth")
    assert wrong.alignment.rms_residual_m > 100 * aligned.alignment.rms_residual_m
    with pytest.raises(RigvidModelError, match="expected relative"):
        align_relative_depth(relative[0], depths[0], mask, "depth")


# -- the success filter -----------------------------------------------------------------------------


def _summary() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (64, 96, 3), dtype=np.uint8)


def test_vlm_filter_with_a_tiny_random_vlm_parses_strictly(tiny_vlms):
    judge = VlmSuccessFilter.from_path(tiny_vlms["free"], TASK,
                                       success_filter_vlm_config(**TINY_VLM))  # fmt: skip
    assert f"'{TASK}'" in judge.question
    verdict = judge(_summary())
    # Random weights say anything: the verdict must be the strict parser's reading of it.
    if verdict.error is None:
        assert verdict.accepted == parse_yes_no(verdict.answer)
    else:
        assert not verdict.accepted and "yes/no" in verdict.error
        with pytest.raises(PromptError):
            parse_yes_no(verdict.answer)


@pytest.mark.parametrize("word", ["yes", "no"])
def test_vlm_filter_reads_the_models_answer(tiny_vlms, word):
    config = success_filter_vlm_config(**TINY_VLM)
    verdict = VlmSuccessFilter.from_path(tiny_vlms[word], TASK, config)(_summary())
    assert verdict == Verdict(word == "yes", word)


def test_vlm_filter_load_errors(tmp_path):
    from humanoid_teleop.vlm.vlm_backend import VlmLoadError

    with pytest.raises(VlmLoadError, match="no such directory"):
        VlmSuccessFilter.from_path(tmp_path / "missing", TASK)
    with pytest.raises(PromptError, match="instruction"):
        VlmSuccessFilter(object(), "  ")


def test_regeneration_loop_keeps_the_attempt_log():
    verdicts = [Verdict(False, "No."), Verdict(False, "Maybe", "expected a yes/no answer"),
                Verdict(True, "Yes")]  # fmt: skip
    calls = []

    def generate(attempt):
        calls.append(attempt)
        return [np.full((4, 4, 3), attempt, np.uint8)] * 5

    video = generate_until_accepted(generate, lambda summary: verdicts[len(calls) - 1])
    assert video.log == tuple(verdicts) and video.attempts == 3 and calls == [0, 1, 2]
    assert video.frames[0][0, 0, 0] == 2
    with pytest.raises(NoAcceptableVideoError, match="'No.'") as info:
        generate_until_accepted(generate, lambda s: Verdict(False, "No."), max_regenerations=5)
    assert len(info.value.attempts) == 6  # 1 + 5 regenerations, as in RIGVid
    with pytest.raises(NoAcceptableVideoError):
        generate_until_accepted(generate, lambda s: False, max_regenerations=0)


# -- video generation --------------------------------------------------------------------------------


def test_video_generator_loader_refuses_what_is_not_image_to_video(tmp_path):
    from humanoid_teleop.manip.tiny_planner import build_tiny_image_planner

    with pytest.raises(RigvidModelError, match="no model_index.json"):
        load_video_generator(tmp_path)
    pytest.importorskip("diffusers")
    sd = build_tiny_image_planner(tmp_path / "sd")  # an image-to-image pipeline
    with pytest.raises(RigvidModelError, match="not an image-to-video pipeline"):
        load_video_generator(sd)
    (sd / "model_index.json").write_text(json.dumps({"_class_name": "NoSuchImageToVideoPipeline"}))
    with pytest.raises(RigvidModelError, match="has no NoSuchImageToVideoPipeline"):
        load_video_generator(sd)


def test_generated_frames_are_conformed_to_the_real_first_frame():
    first = np.full((20, 30, 3), 7, np.uint8)
    video = conform_video([np.zeros((40, 60, 3), np.uint8)] * 3, first)
    assert [f.shape for f in video] == [(20, 30, 3)] * 3 and video[0] is not first
    np.testing.assert_array_equal(video[0], first)
    with pytest.raises(RigvidModelError, match=">= 2"):
        conform_video([first], first)


# -- end to end -----------------------------------------------------------------------------------


class SceneGenerator:
    """A scripted video model: the first generation leaves the object where it is (a failed
    video), later ones carry it along the scene's path."""

    def __init__(self, depths):
        self.depths, self.calls = depths, 0

    def __call__(self, first_rgb, instruction):
        assert instruction == TASK
        self.calls += 1
        depths = self.depths[:1].repeat(len(self.depths), 0) if self.calls == 1 else self.depths
        return [_rgb(d) for d in depths]


class SceneDisparity:
    """A depth model that knows the scene: the true disparity up to an unknown affine map,
    what a good relative monocular model gives."""

    output = "disparity"

    def __init__(self, depths):
        self.by_frame = {_rgb(d).tobytes(): 0.4 / d + 0.1 for d in depths}

    def __call__(self, frames):
        return np.stack([self.by_frame[f.tobytes()] for f in frames])


def _moved(summary: np.ndarray) -> bool:
    """A judge that accepts a video whose last summary frame differs from its first."""
    h, w = summary.shape[0] // 2, summary.shape[1] // 2
    return not np.array_equal(summary[:h, :w], summary[h:, w:])


def test_generated_video_to_arm_trajectory(scene):
    kin, q_path, hand, _, T_pelvis_cam, depths = scene
    generator = SceneGenerator(depths)
    stages = []
    result = imitate_generated_video(
        _rgb(depths[0]), depths[0], K, depths[0] < 1.0, T_pelvis_cam, TASK,
        generator=generator, depth_model=SceneDisparity(depths), success_filter=_moved,
        T_pelvis_hand_at_grasp=hand[0], q_at_grasp_rad=q_path[0], progress=stages.append,
    )  # fmt: skip
    assert result.video.attempts == 2 and generator.calls == 2  # the static video was refused
    assert stages == ["generate 1/6", "generate 2/6", "depth", "track"]
    np.testing.assert_allclose(result.depth.depth_m, depths, rtol=1e-6)
    err = [np.linalg.norm(kin.forward(q)[:3, 3] - T[:3, 3]) for q, T in
           zip(result.imitation.q_traj_rad, hand, strict=True)]  # fmt: skip
    rot = [np.degrees(rotation_angle_rad(kin.forward(q)[:3, :3], T[:3, :3])) for q, T in
           zip(result.imitation.q_traj_rad, hand, strict=True)]  # fmt: skip
    assert max(err) < 0.01 and max(rot) < 5.0  # the retargeting tolerance


def test_all_model_stages_run_with_tiny_models(scene, tiny_dpt, tiny_vlms):
    """Scripted generator -> tiny random VLM filter (steered to "yes") -> tiny random DPT ->
    alignment -> tracking -> IK: every stage runs on real checkpoints. The random depth makes
    the motion meaningless; what is checked is that each stage's output reaches the next."""
    _, q_path, hand, _, T_pelvis_cam, depths = scene
    depths = depths[:6]
    mask = depths[0] < 1.0
    judge = VlmSuccessFilter.from_path(
        tiny_vlms["yes"], TASK, success_filter_vlm_config(**TINY_VLM)
    )
    depth_model = load_depth_model(tiny_dpt, device="cpu")
    generator = SceneGenerator(depths)
    generator.calls = 1  # skip the scripted failure: the VLM says yes to anything
    result = imitate_generated_video(
        _rgb(depths[0]), depths[0], K, mask, T_pelvis_cam, TASK, generator=generator,
        depth_model=depth_model, success_filter=judge, T_pelvis_hand_at_grasp=hand[0],
        q_at_grasp_rad=q_path[0],
    )  # fmt: skip
    assert result.video.log == (Verdict(True, "yes"),)
    assert result.relative_depth.shape == depths.shape
    assert result.depth.space == "disparity" and result.depth.alignment.num_pixels == mask.sum()
    assert result.imitation.q_traj_rad.shape == (len(depths), 29)
    assert np.all(np.isfinite(result.imitation.q_traj_rad))


def _first_frame_npz(path):
    """A small first frame (the tiny image model works at 3x its size): a box on a table."""
    depth = np.full((24, 32), 1.0)
    depth[8:16, 10:22] = 0.8
    rgb = _rgb(depth)
    np.savez(path, rgb=rgb, depth=depth, K=np.array([[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]]),
             mask=depth < 0.9, T_pelvis_cam=np.eye(4))  # fmt: skip
    return path, rgb


def test_rigvid_video_cli_writes_a_rigvid_plan_input(tiny_dpt, tiny_vlms, tmp_path, capsys):
    """The CLI with real tiny checkpoints for all three stages (the visual planner's tiny
    image model as the generator); its output is a valid ``plan rigvid`` input."""
    pytest.importorskip("diffusers")
    from humanoid_teleop.cli import main
    from humanoid_teleop.manip.plans import RigvidInput
    from humanoid_teleop.manip.tiny_planner import build_tiny_image_planner

    planner = build_tiny_image_planner(tmp_path / "sd")
    first, rgb = _first_frame_npz(tmp_path / "first.npz")
    out = tmp_path / "generated.npz"
    args = ["plan", "rigvid-video", str(first), "--out", str(out), "--instruction", TASK,
            "--depth-model", str(tiny_dpt), "--steps", "2", "--max-regenerations", "1"]  # fmt: skip
    model = ["--image-planner", str(planner)]
    assert main([*args, *model, "--vlm", str(tiny_vlms["yes"])]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["accepted"] and report["filter_log"] == [Verdict(True, "yes").to_dict()]
    data = RigvidInput.load(out)
    assert data.depth.shape == (9, 24, 32)  # the 3x3 plan grid's 9 frames
    np.testing.assert_array_equal(data.rgb[0], rgb)
    capsys.readouterr()
    assert main([*args, *model, "--vlm", str(tiny_vlms["no"])]) == 1  # 1 + 1 videos refused
    report = json.loads(out.with_suffix(".json").read_text())
    assert not report["accepted"] and len(report["filter_log"]) == 2
    assert main([*args, "--vlm", str(tiny_vlms["no"])]) == 2  # no generator given
    assert "exactly one of --video-model" in capsys.readouterr().err
    np.savez(first, rgb=rgb)
    assert main([*args, *model, "--vlm", str(tiny_vlms["no"])]) == 2  # arrays missing
    assert "expected arrays" in capsys.readouterr().err
