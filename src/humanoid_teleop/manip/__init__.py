"""Manipulation planners (issue 8): plan grids, depth geometry, ICP tracking, action
stitching and G1 arm kinematics; the plan jobs the service and ``humanoid-teleop plan`` run
(``plans``). Model-dependent stages load lazily behind clear errors: the visual planner's
diffusers image model (``planner.load_image_planner``, the ``manip`` extra); RIGVid's video
generator, VLM success filter and monocular depth (``rigvid_models``); the single-image
arm-pose estimator trained on twin renders (``arm_pose_model``, shipped in assets/)."""
