"""Held-out accuracy of the embedded intent estimators on rendered clips of the walking G1.

Each segment is one clip: the twin's walking expert follows one constant command for
``--seconds`` (classes: stand, forward, back, left, right, turn_left, turn_right; the command
is drawn per segment from the class's range in ``CLASSES``; the standing time before it too,
so every segment starts in a different gait phase), filmed by
the head camera (egocentric) and by a static camera at a random placement (third person,
``sim_clips.random_placement``). Scoring starts ``--score-from`` seconds into the clip (the
robot needs ~1 s to get into its gait; the estimators' windows need as long again).

- direction: each intent is classified (``direction_of``) and the segment's direction is the
  majority over the scored window; accuracy = segments whose direction is the commanded one.
  Without its body-yaw CNN (checkpoint missing) the third-person estimator cannot see
  backwards walking or sidesteps (a silhouette has no front), so its accuracy is then also
  given over the classes it can observe.
- errors: |mean estimate - mean truth| over the scored window, truth = the robot's measured
  base velocity (not the command: the expert lags and undershoots it): vx, vy, yaw rate;
  third person also the planar speed |(vx, vy)| against the true planar speed.

    python benchmarks/intent_accuracy.py --seed 7 --per-class 2
    python benchmarks/intent_accuracy.py --real-clips ../shared/data/real-clips

``--cache DIR`` keeps rendered clips (npz) so re-scoring after a change does not re-render.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, pin_single_thread

pin_single_thread()

from humanoid_teleop.contracts import Intent, VelocityCommand

V = VelocityCommand
# Per class: the command's range (low, high) per axis; each segment draws one command.
CLASSES: dict[str, tuple[tuple[float, float], ...]] = {
    "stand": ((0, 0), (0, 0), (0, 0)),
    "forward": ((0.2, 0.4), (0, 0), (0, 0)),
    "back": ((-0.2, -0.1), (0, 0), (0, 0)),
    "left": ((0, 0), (0.08, 0.15), (0, 0)),
    "right": ((0, 0), (-0.15, -0.08), (0, 0)),
    "turn_left": ((0.05, 0.2), (0, 0), (0.35, 0.6)),
    "turn_right": ((0.05, 0.2), (0, 0), (-0.6, -0.35)),
}
THIRD_PERSON_OBSERVABLE = ("stand", "forward", "turn_left", "turn_right")
# Half the walking envelope per axis: a component this large counts as much as any other.
_SCALE = {"vx+": 0.2, "vx-": 0.1, "vy": 0.075, "yaw": 0.3}


def direction_of(skill: str, command: VelocityCommand) -> str:
    """forward / back / left / right / turn_left / turn_right / stand: the dominant component
    of the command, each axis scaled by half its walking range."""
    if skill == "stand" or command.is_zero:
        return "stand"
    vx, vy, yaw = command.vx_mps, command.vy_mps, command.yaw_rate_radps
    scores = {
        "forward": vx / _SCALE["vx+"], "back": -vx / _SCALE["vx-"],
        "left": vy / _SCALE["vy"], "right": -vy / _SCALE["vy"],
        "turn_left": yaw / _SCALE["yaw"], "turn_right": -yaw / _SCALE["yaw"],
    }  # fmt: skip
    return max(scores, key=scores.get)


def render_segments(seed: int, per_class: int, seconds: float, fps: float, cache: Path | None):
    from humanoid_teleop.sim.render import ensure_gl_backend
    from humanoid_teleop.vlm.sim_clips import SimClipSpec, random_placement, render_clip

    ensure_gl_backend()
    rng = np.random.default_rng(seed)
    segments = []
    for rep in range(per_class):
        for name, ranges in CLASSES.items():
            command = V(*(float(rng.uniform(lo, hi)) for lo, hi in ranges))
            settle_s = float(rng.uniform(0.3, 1.0))  # a different gait phase per segment
            spec = SimClipSpec(
                ((seconds, command),), fps=fps, placement=random_placement(rng), settle_s=settle_s
            )
            key = f"{seed}-{name}-{rep}-{seconds:g}-{fps:g}-v2.npz"
            path = cache / key if cache else None
            if path is not None and path.exists():
                data = dict(np.load(path))
            else:
                t0 = time.perf_counter()
                clip = render_clip(spec)
                data = {
                    "head": np.array(clip.frames["head"]), "fixed": np.array(clip.frames["fixed"]),
                    "t_s": clip.t_s, "vx": clip.vx_mps, "vy": clip.vy_mps,
                    "yaw": clip.yaw_rate_radps, "fell": np.array(clip.fell),
                }  # fmt: skip
                print(f"  rendered {name} #{rep} in {time.perf_counter() - t0:.1f} s", flush=True)
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    np.savez_compressed(path, **data)
            segments.append((name, spec, data))
    return segments


def _estimators():
    from humanoid_teleop.vlm.egocentric import EgocentricEstimator, g1_head_camera_config
    from humanoid_teleop.vlm.third_person import ThirdPersonEstimator, g1_fixed_camera_config

    return {
        "egocentric": ("head", lambda: EgocentricEstimator(g1_head_camera_config())),
        "third_person": ("fixed", lambda: ThirdPersonEstimator(g1_fixed_camera_config())),
    }


def _third_person_uses_body_yaw() -> bool:
    _camera, make = _estimators()["third_person"]
    return make().uses_body_yaw


def score(segments, score_from_s: float) -> dict:
    from humanoid_teleop.contracts import Frame

    results: dict[str, list[dict]] = {}
    for view, (camera, make) in _estimators().items():
        rows = []
        for name, _spec, data in segments:
            if bool(data["fell"]):
                continue  # the expert fell: no ground truth worth scoring
            est = make()
            intents: list[Intent] = []
            for i, (t, img) in enumerate(zip(data["t_s"], data[camera])):
                out = est.update(Frame(float(t), img, view, index=i))
                if out is not None:
                    intents.append(out)
            late = [x for x in intents if x.frame_timestamp_s >= score_from_s]
            sel = data["t_s"] >= score_from_s
            votes = Counter(direction_of(x.skill, x.command) for x in late)
            est_v = np.array([x.command.as_array() for x in late]).mean(axis=0)
            true_v = np.array([data["vx"][sel].mean(), data["vy"][sel].mean(),
                               data["yaw"][sel].mean()])  # fmt: skip
            rows.append({
                "class": name, "predicted": votes.most_common(1)[0][0],
                "est": est_v.tolist(), "true": true_v.tolist(),
                "true_speed": float(math.hypot(true_v[0], true_v[1])),
            })  # fmt: skip
        results[view] = rows
    return results


def print_tables(results: dict) -> None:
    for view, rows in results.items():
        print(f"\n{view}: {len(rows)} segments")
        print("| class | n | direction correct | predicted | vx / vy / yaw err"
              + ("" if view == "egocentric" else " | speed err")
              + " | truth vx / vy / yaw (mean) |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for name in CLASSES:
            sub = [r for r in rows if r["class"] == name]
            if not sub:
                continue
            ok = sum(r["predicted"] == name for r in sub)
            pred = ", ".join(sorted({r["predicted"] for r in sub}))
            est, true = np.array([r["est"] for r in sub]), np.array([r["true"] for r in sub])
            err = np.abs(est - true).mean(axis=0)
            errs = f"{err[0]:.3f} / {err[1]:.3f} / {err[2]:.3f}"
            if view != "egocentric":
                # The planar speed, whichever way the body is taken to face.
                speed_err = np.mean([abs(math.hypot(*r["est"][:2]) - r["true_speed"])
                                     for r in sub])  # fmt: skip
                errs += f" | {speed_err:.3f}"
            tm = true.mean(axis=0)
            print(f"| {name} | {len(sub)} | {ok}/{len(sub)} | {pred} | {errs} | "
                  f"{tm[0]:+.2f} / {tm[1]:+.2f} / {tm[2]:+.2f} |")  # fmt: skip
        acc = np.mean([r["predicted"] == r["class"] for r in rows])
        print(f"direction accuracy, all classes: {acc:.1%}")
        if view == "third_person" and not _third_person_uses_body_yaw():
            obs = [r for r in rows if r["class"] in THIRD_PERSON_OBSERVABLE]
            acc_obs = np.mean([r["predicted"] == r["class"] for r in obs])
            print(f"direction accuracy, observable classes {THIRD_PERSON_OBSERVABLE}: "
                  f"{acc_obs:.1%} ({len(obs)} segments)")  # fmt: skip


def real_clips(folder: Path, bin_s: float = 0.5) -> None:
    """Both estimators on every video in ``folder``: majority skill and mean vx per bin."""
    from humanoid_teleop.vlm.egocentric import EgocentricEstimator
    from humanoid_teleop.vlm.estimator import decode_video
    from humanoid_teleop.vlm.third_person import ThirdPersonConfig, ThirdPersonEstimator

    # Default configs: a real camera, a real person (nothing tuned to these clips). The
    # body-yaw CNN (trained on G1 renders only, off by default for people) is shown as well:
    # how far it is from real people.
    makers = {
        "egocentric": ("egocentric", EgocentricEstimator),
        "third_person": ("third_person", ThirdPersonEstimator),
        "third_person + body-yaw CNN": (
            "third_person", lambda: ThirdPersonEstimator(ThirdPersonConfig(use_body_yaw=True))
        ),
    }  # fmt: skip
    for video in sorted(p for p in folder.iterdir() if p.suffix.lower() in (".gif", ".mp4")):
        for label, (view, make) in makers.items():
            est = make()
            intents = [x for f in decode_video(video, view) if (x := est.update(f)) is not None]
            bins: dict[int, list[Intent]] = {}
            for x in intents:
                bins.setdefault(int(x.frame_timestamp_s // bin_s), []).append(x)
            cells = []
            for b, xs in sorted(bins.items()):
                skill = Counter(x.skill for x in xs).most_common(1)[0][0]
                vx, vy, yaw = np.mean([x.command.as_array() for x in xs], axis=0)
                cells.append(f"{b * bin_s:.1f}s {skill} vx {vx:+.2f} vy {vy:+.2f} yaw {yaw:+.2f}")
            print(f"\n{video.name} [{label}, default config]")
            print("  " + "\n  ".join(cells))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--per-class", type=int, default=2, help="segments per class and view")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument("--score-from", type=float, default=1.5, help="seconds into each segment")
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None, help="write per-segment results here")
    p.add_argument("--real-clips", type=Path, default=None, help="only run on this folder")
    args = p.parse_args(argv)
    print(machine_line())
    if args.real_clips is not None:
        real_clips(args.real_clips)
        return 0
    print(f"seed {args.seed}, {args.per_class} per class, {args.seconds:g} s at {args.fps:g} fps, "
          f"320x240, scored from {args.score_from:g} s")  # fmt: skip
    segments = render_segments(args.seed, args.per_class, args.seconds, args.fps, args.cache)
    fell = sum(bool(d["fell"]) for _, _, d in segments)
    if fell:
        print(f"{fell} segment(s) dropped: the expert fell")
    results = score(segments, args.score_from)
    print_tables(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
