"""Manipulation planners' own geometry (issue 8): plan grids, depth geometry, ICP tracking,
action stitching and G1 arm kinematics. Model-dependent stages (image/video generators,
depth networks, VLM filters) are not here yet; they will load lazily behind clear errors."""
