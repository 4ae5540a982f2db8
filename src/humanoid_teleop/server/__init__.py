"""The web service: FastAPI app factory, settings, operator auth, the live WebRTC pipeline
and the video-upload jobs.

Nothing heavy is imported here: ``python -m humanoid_teleop.server.jobs`` (the job child
process) and ``humanoid-teleop --help`` must not pay for FastAPI or aiortc. Import from the
submodules: ``server.app.create_app``, ``server.settings.ServerSettings``.
"""
