"""A tiny random Stable-Diffusion image-to-image checkpoint built from config, for tests of the
visual planner's model stage (``planner.load_image_planner``) without a download.

The components are the ones ``diffusers.AutoPipelineForImage2Image`` resolves a Stable
Diffusion directory to (UNet2DConditionModel, AutoencoderKL, CLIPTextModel + tokenizer, a
DDIM scheduler), each a few thousand parameters. The tokenizer is a word-level vocabulary of
the prompt templates' words, built in-process. Its images are noise: what the tests check is
that a real checkpoint directory loads, runs on a frame + prompt and comes back as a grid.
"""

from __future__ import annotations

import re
from pathlib import Path

from humanoid_teleop.manip.prompts import GRID_LAYOUT, plan_prompt

_SPECIALS = ("<|startoftext|>", "<|endoftext|>", "<unk>")
MAX_PROMPT_TOKENS = 77  # CLIP's context; the grid-layout prompt alone is ~50 words


def _prompt_vocabulary() -> list[str]:
    text = " ".join((GRID_LAYOUT, plan_prompt("trajectory", "put the cup on the plate")))
    return sorted(set(re.findall(r"\w+|[^\w\s]", text.lower())))


def build_tiny_image_planner(folder: str | Path, seed: int = 0) -> Path:
    """Write a random tiny Stable-Diffusion img2img checkpoint (model_index.json and the
    component folders) to ``folder``; returns it."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

    folder = Path(folder)
    words = [*_SPECIALS, *_prompt_vocabulary()]
    vocab = {w: i for i, w in enumerate(words)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    bos, eos = _SPECIALS[0], _SPECIALS[1]
    # CLIP's framing: <start> prompt <end>, padded with <end> to the model's context length.
    core.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, vocab[bos]), (eos, vocab[eos])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=bos, eos_token=eos, pad_token=eos, unk_token="<unk>",
        model_max_length=MAX_PROMPT_TOKENS,
    )  # fmt: skip
    torch.manual_seed(seed)
    hidden = 16
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=MAX_PROMPT_TOKENS,
        bos_token_id=vocab[bos], eos_token_id=vocab[eos], pad_token_id=vocab[eos],
    )).eval()  # fmt: skip
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4, cross_attention_dim=hidden,
        attention_head_dim=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    ).eval()  # fmt: skip
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8),
        layers_per_block=1, norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
    ).eval()  # fmt: skip
    pipe = StableDiffusionImg2ImgPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=DDIMScheduler(steps_offset=1, clip_sample=False), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.save_pretrained(folder)
    return folder
