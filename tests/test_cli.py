"""The command line: validate writes the documented report; sim prints a summary and a video."""

import json

import av
import pytest

from humanoid_teleop.cli import main

REPORT_KEYS = {
    "controller", "episodes", "seconds_per_episode", "seed", "command_ranges", "falls",
    "fall_rate", "vel_rms_mps", "yaw_rate_rms_radps", "max_torque_ratio", "joint_limit_hits",
    "passed",
}  # fmt: skip


@pytest.mark.sim
def test_validate_stand_writes_the_report(tmp_path):
    out = tmp_path / "r.json"
    code = main(["validate", "--controller", "stand", "--episodes", "2", "--seconds", "4",
                 "--seed", "0", "--json", str(out)])  # fmt: skip
    report = json.loads(out.read_text())
    assert REPORT_KEYS <= set(report)
    assert report["controller"] == "stand" and report["episodes"] == 2
    assert report["command_ranges"] == {
        "vx_mps": [0, 0],
        "vy_mps": [0, 0],
        "yaw_rate_radps": [0, 0],
    }
    assert report["falls"] == 0 and report["passed"] is True and code == 0
    assert 0 < report["max_torque_ratio"] < 1
    assert report["imu_errors"] is None  # an exact IMU unless --imu-errors
    assert report["command_delay_s"] == 0.0  # commands act at once unless --command-delay-ms
    assert report["lookahead_s"] == 0.0  # each tick's own target unless --lookahead-ms


@pytest.mark.sim
def test_validate_records_the_twins_imu_errors_and_delay_and_repeats_across_workers(tmp_path):
    from dataclasses import asdict

    from humanoid_teleop.sim.imu_errors import ImuErrors

    reports = []
    for name, workers in (("a.json", "1"), ("b.json", "2")):
        main(["validate", "--controller", "stand", "--episodes", "2", "--seconds", "3",
              "--imu-errors", "--command-delay-ms", "10", "--workers", workers,
              "--json", str(tmp_path / name)])  # fmt: skip
        reports.append(json.loads((tmp_path / name).read_text()))
    a, b = reports
    assert a["imu_errors"] == asdict(ImuErrors()) and a["command_delay_s"] == pytest.approx(0.01)
    assert a["per_episode"] == b["per_episode"] and a["vel_rms_mps"] == b["vel_rms_mps"]


@pytest.mark.sim
def test_validate_is_deterministic_and_counts_falls(tmp_path):
    """Pushes of 15-20 N s topple a robot that cannot step: the report must say so, the same
    way each run, whether the episodes run one after the other or in two processes."""
    reports = []
    for name, workers in (("a.json", "1"), ("b.json", "2")):
        code = main(["validate", "--controller", "stand", "--episodes", "3", "--seconds", "5",
                     "--seed", "3", "--pushes", "--workers", workers,
                     "--json", str(tmp_path / name)])  # fmt: skip
        reports.append(json.loads((tmp_path / name).read_text()))
    a, b = reports
    assert a["falls"] >= 1 and a["passed"] is False and code == 1
    assert a["pushes"]["impulse_ns"] == [15.0, 20.0]
    for key in ("falls", "vel_rms_mps", "max_torque_ratio", "per_episode"):
        assert a[key] == b[key]


@pytest.mark.sim
def test_validate_takes_the_push_impulse_and_refuses_it_without_pushes(tmp_path, capsys):
    out = tmp_path / "r.json"
    main(["validate", "--controller", "stand", "--episodes", "1", "--seconds", "3", "--pushes",
          "--push-impulse", "2", "3", "--json", str(out)])  # fmt: skip
    report = json.loads(out.read_text())
    assert report["pushes"]["impulse_ns"] == [2.0, 3.0]
    assert report["falls"] == 0  # a 2-3 N s push does not topple even the stand controller
    capsys.readouterr()
    code = main(["validate", "--controller", "stand", "--episodes", "1",
                 "--push-impulse", "2", "3"])  # fmt: skip
    assert code == 2 and "add --pushes" in capsys.readouterr().err


@pytest.mark.sim
def test_validate_reports_the_commands_it_sampled(tmp_path, capsys):
    out = tmp_path / "r.json"
    main(["validate", "--controller", "stand", "--episodes", "1", "--seconds", "12",
          "--vx-range", "-0.2", "0.4", "--json", str(out)])  # fmt: skip
    # The stand's envelope is fixed: the wider commands are measured, and it says so.
    assert "warning: stand clamps commands to its envelope" in capsys.readouterr().err
    report = json.loads(out.read_text())
    lo, hi = report["command_ranges"]["vx_mps"]
    assert -0.2 <= lo <= 0 <= hi <= 0.4 and (lo < 0 or hi > 0)
    assert report["command_ranges_requested"]["vx_mps"] == [-0.2, 0.4]
    assert report["vel_rms_mps"] > 0.0  # a stand controller does not track a walk command


@pytest.mark.sim
def test_sim_prints_summary_and_writes_video(tmp_path, capsys):
    video = tmp_path / "stand.mp4"
    code = main(["sim", "--controller", "stand", "--seconds", "3", "--video", str(video)])
    text = capsys.readouterr().out
    assert code == 0 and "upright        yes" in text
    with av.open(str(video)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == pytest.approx(3 * 30, abs=2)


@pytest.mark.sim
def test_sim_widens_the_experts_envelope_to_the_command(tmp_path, capsys):
    """vx 0.55 is beyond the expert's default envelope (0.4): it walks at it, not at 0.4."""
    out = tmp_path / "fast.json"
    code = main(["sim", "--controller", "expert", "--vx", "0.55", "--seconds", "12",
                 "--json", str(out)])  # fmt: skip
    summary = json.loads(out.read_text())
    assert code == 0 and not summary["fell"]
    assert summary["mean_vx_mps"] > 0.42  # measured 0.468 (the start included); 0.4 clamps
    main(["sim", "--controller", "stand", "--vx", "0.3", "--seconds", "3"])
    assert "warning: stand clamps commands to its envelope" in capsys.readouterr().err


def test_bad_input_is_a_clear_error_without_traceback(capsys):
    assert main(["sim", "--controller", "dance", "--seconds", "1"]) == 2
    assert "error: unknown controller 'dance'" in capsys.readouterr().err
    assert main(["validate", "--episodes", "0"]) == 2
    assert "episodes >= 1" in capsys.readouterr().err
    assert main(["validate", "--episodes", "1", "--seconds", "1", "--workers", "0"]) == 2
    assert "workers: expected >= 1" in capsys.readouterr().err
