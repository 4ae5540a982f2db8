# humanoid-teleop: the web service (simulated G1, embedded defaults) in one image.
#   docker build -t humanoid-teleop .
#   docker run --rm -p 8000:8000 -v teleop-data:/data humanoid-teleop
# The operator token is printed once, on the first start, in the container's log; it is kept
# (hashed) in /data, so mount a volume there to keep the token and the jobs across restarts.
FROM python:3.11-slim

# The system packages .ci/run installs for running the project: headless OpenGL for MuJoCo
# rendering (EGL from mesa, OSMesa as the fallback), make, and Node for the browser client's
# npm dependencies. Chromium is only for the end-to-end tests and stays out of the image.
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libosmesa6 make nodejs npm \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . /app

# The same install as on a developer machine (README: `make setup`): .venv with the CPU torch
# wheel, mjlab's G1 model, this package and client-web's npm packages. One definition of the
# install steps, in the Makefile, so the image cannot drift from it.
RUN make setup && rm -rf /root/.cache /root/.npm

# The service runs unprivileged; it owns only its data folder (token hash, jobs). The code
# and the virtual environment stay root-owned and read-only to it.
RUN useradd --create-home --uid 10001 teleop \
 && mkdir -p /data \
 && chown teleop:teleop /data
USER teleop

ENV MUJOCO_GL=egl \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH
VOLUME ["/data"]
EXPOSE 8000

CMD ["humanoid-teleop", "serve", "--host", "0.0.0.0", "--port", "8000", "--data-dir", "/data"]
