"""Intent estimators: video frames in, the operator's motion intent out.

- ``estimator``: the ``IntentEstimator`` protocol, the smoother, video decoding.
- ``egocentric``: camera ego-motion from optical flow (a worn / held camera).
- ``third_person``: track the moving person from a static camera.
- ``vlm_backend``: a local transformers VLM in a worker thread (text + pooled latent -> Intent).
- ``motion_text``: the strict parser from a motion description to a skill and a command.
- ``tiny_vlm``: a tiny random Qwen2-VL checkpoint built from config, for tests and benchmarks.
- ``sim_clips``: clips of the simulated G1 with ground truth, for tests and evaluation.

Modules are imported explicitly (nothing heavy at package import).
"""
