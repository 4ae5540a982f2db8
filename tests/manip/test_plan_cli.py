import json

import numpy as np
import pytest

from humanoid_teleop import g1
from humanoid_teleop.cli import main


@pytest.mark.sim
def test_plan_arm_cli_writes_a_validated_plan(tmp_path, capsys):
    out = tmp_path / "plan.json"
    video = tmp_path / "plan.mp4"
    targets = ["0.08", "0", "0.1", "0.08", "0.08", "0.1"]
    rc = main(["plan", "arm", "--targets", *targets, "--relative", "--json", str(out),
               "--video", str(video)])  # fmt: skip
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True
    plan = json.loads(out.read_text())
    assert plan["joint_names"] == list(g1.JOINT_NAMES)
    assert np.asarray(plan["q_traj_rad"]).shape[1] == g1.NUM_JOINTS
    assert video.stat().st_size > 0


def test_plan_arm_cli_rejects_bad_targets(capsys):
    assert main(["plan", "arm", "--targets", "0.1", "0.2"]) == 2  # not x y z triples
    assert main(["plan", "arm", "--targets", "1.0", "0", "0"]) == 2  # out of reach
    assert "error" in capsys.readouterr().err
