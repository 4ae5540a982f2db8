import os

# MuJoCo reads MUJOCO_GL once, at its first import: render headless (EGL) in tests unless
# the environment chose otherwise (e.g. MUJOCO_GL=osmesa in CI without a GPU).
os.environ.setdefault("MUJOCO_GL", "egl")
