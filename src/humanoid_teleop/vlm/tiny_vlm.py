"""A tiny random Qwen2-VL checkpoint built from config, for tests and latency benchmarks.

No download: the byte-level BPE tokenizer is trained in-process on a few motion phrases (a few
ms) and wrapped in ``PreTrainedTokenizerFast``; the model is ``Qwen2VLForConditionalGeneration``
with one text layer and one vision block (~0.2 M parameters). Its output text is random, which
is what the tests need: the backend must survive anything the model says.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|image_pad|>", "<|video_pad|>",
)  # fmt: skip
_CORPUS = (
    "The person is walking forward. The person is turning left. The person stops and stands.",
    "Describe the motion of the first-person individual. Describe the motion of the person.",
    "stepping right, stepping left, walking backward, turning right, standing still.",
)


def build_tiny_qwen2_vl(
    folder: str | Path, hidden: int = 32, seed: int = 0, words: tuple[str, ...] = ()
) -> Path:
    """Write a random tiny Qwen2-VL checkpoint (config, safetensors, tokenizer) to ``folder``.
    ``words`` become whole (non-special) tokens, so a test can steer generation to exactly
    one of them (e.g. "yes" / "no" for the manipulation success filter)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
    )

    folder = Path(folder)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    bpe.train_from_iterator(_CORPUS, trainer)
    bpe.add_tokens(list(words))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    ids = {t: bpe.token_to_id(t) for t in SPECIAL_TOKENS}
    heads = 2
    head_dim = hidden // heads
    # M-RoPE splits the rotary half-dimension over (time, height, width).
    half = head_dim // 2
    mrope = [half - 2 * (half // 3), half // 3, half // 3]
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": bpe.get_vocab_size(), "hidden_size": hidden,
            "intermediate_size": 2 * hidden, "num_hidden_layers": 1,
            "num_attention_heads": heads, "num_key_value_heads": 1,
            "max_position_embeddings": 2048, "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"], "bos_token_id": ids["<|endoftext|>"],
            "rope_parameters": {
                "rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope,
            },
        },
        vision_config={
            "depth": 1, "embed_dim": hidden, "hidden_size": hidden, "num_heads": heads,
            "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )  # fmt: skip
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
