from humanoid_teleop.sim.render import ensure_gl_backend

# MuJoCo reads MUJOCO_GL once, at its first import: pick a headless backend (EGL, else
# OSMesa) before any test module imports mujoco, unless the environment chose one.
ensure_gl_backend()
