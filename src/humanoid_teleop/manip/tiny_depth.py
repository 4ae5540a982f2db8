"""A tiny random DPT depth-estimation checkpoint built from config, for tests of the RIGVid
depth stage (``rigvid_models.load_depth_model``) without a download.

``DPTForDepthEstimation`` with a 4-layer, 16-wide ViT on 8 px patches of a 32x32 input (~70 k
parameters) and the matching ``DPTImageProcessor``, saved as a transformers checkpoint
directory. Its depth maps are noise: what the tests check is that a real checkpoint directory
loads through the Auto classes, runs on frames of any size and comes back per frame at that
size. DPT's head ends in a ReLU, so random weights at transformers' default initialisation
give maps of ~1e-10; a larger ``initializer_range`` keeps them well above float noise.
"""

from __future__ import annotations

from pathlib import Path

INPUT_PX = 32


def build_tiny_dpt(folder: str | Path, seed: int = 0) -> Path:
    """Write a random tiny DPT checkpoint (config, safetensors, preprocessor) to ``folder``."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    folder = Path(folder)
    config = DPTConfig(
        hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32,
        image_size=INPUT_PX, patch_size=8, backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 8, 16, 16], fusion_hidden_size=16, head_hidden_size=8,
        initializer_range=0.1,
    )  # fmt: skip
    torch.manual_seed(seed)
    DPTForDepthEstimation(config).eval().save_pretrained(folder)
    DPTImageProcessor(
        size={"height": INPUT_PX, "width": INPUT_PX}, keep_aspect_ratio=False, ensure_multiple_of=8
    ).save_pretrained(folder)
    return folder
