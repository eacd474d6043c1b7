"""Tiny checkpoints of two real VLM architectures, built from configs and saved to disk."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import CORPUS  # noqa: F401  (shared tiny-model corpus)


@pytest.fixture(scope="session")
def gemma3_dir(tmp_path_factory):
    """A tiny Gemma 3 (SigLIP vision tower + Gemma 3 text model) with its own processor."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessorPil, Gemma3Processor, PreTrainedTokenizerFast

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("gemma3")
    specials = ["<pad>", "<bos>", "<eos>", "<unk>", "<image_soft_token>", "<start_of_image>", "<end_of_image>"]
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=320, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
        extra_special_tokens={"image_token": "<image_soft_token>", "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>"},
    )
    ids = tokenizer.convert_tokens_to_ids
    config = Gemma3Config(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, head_dim=16, sliding_window=64, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=8),
        mm_tokens_per_image=4, image_token_id=ids("<image_soft_token>"), boi_token_id=ids("<start_of_image>"), eoi_token_id=ids("<end_of_image>"),
    )
    template = (
        "{% for m in messages %}{% if m['role'] == 'user' %}<bos>user\n{% for c in m['content'] %}{% if c['type'] == 'image' %}<start_of_image>"
        "{% else %}{{ c['text'] }}{% endif %}{% endfor %}\n{% endif %}{% endfor %}{% if add_generation_prompt %}model\n{% endif %}"
    )
    model = Gemma3ForConditionalGeneration(config)
    # transformers initialises the image projection to zeros: a fresh model would ignore images.
    torch.nn.init.normal_(model.model.multi_modal_projector.mm_input_projection_weight, std=0.5)
    model.save_pretrained(path)
    Gemma3Processor(image_processor=Gemma3ImageProcessorPil(size={"height": 64, "width": 64}), tokenizer=tokenizer, image_seq_length=4, chat_template=template).save_pretrained(path)
    return path


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
