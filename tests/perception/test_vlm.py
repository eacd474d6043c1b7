"""The VLM wrapper on two real architectures (LLaVA, Gemma 3) built locally from configs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physground.perception.vlm import VLM, format_prompt

ARCHITECTURES = ["llava_dir", "gemma3_dir"]


@pytest.fixture(params=ARCHITECTURES)
def vlm(request):
    return VLM.load(request.getfixturevalue(request.param))


def _manual_scores(vlm: VLM, image, prompt: str, options: list[str]) -> list[float]:
    """Score each option with its own full forward pass: the reference for score_options."""
    scores = []
    for option in options:
        batch = vlm.encode([image], [prompt])
        option_ids = vlm.tokenizer(vlm.answer_prefix + option, add_special_tokens=False)["input_ids"]
        ids = torch.cat([batch["input_ids"], torch.tensor([option_ids])], dim=1)
        inputs = {**batch, "input_ids": ids, "attention_mask": torch.ones_like(ids)}
        if "token_type_ids" in batch:
            inputs["token_type_ids"] = torch.cat([batch["token_type_ids"], torch.zeros((1, len(option_ids)), dtype=torch.long)], dim=1)
        with torch.no_grad():
            logp = torch.log_softmax(vlm.model(**inputs).logits[0].float(), -1)
        n = batch["input_ids"].shape[1]
        scores.append(sum(float(logp[n - 1 + j, t]) for j, t in enumerate(option_ids)))
    return scores


def test_loads_through_the_auto_classes_with_sizes_from_the_config(vlm):
    config = vlm.model.config.get_text_config()
    assert vlm.hidden_size == config.hidden_size and vlm.num_layers == config.num_hidden_layers
    assert vlm.tokenizer.pad_token_id is not None


def test_score_options_match_a_manual_computation(vlm, images):
    prompts = ["Will this block tower fall?", "What colour is the ball?"]
    options = ["yes", "no", "red block"]
    got = vlm.score_options(images[:2], prompts, options)
    assert got.shape == (2, 3)
    for b in range(2):
        np.testing.assert_allclose(got[b].numpy(), _manual_scores(vlm, images[b], prompts[b], options), atol=1e-4)


def test_length_normalisation_divides_by_token_count(vlm, images):
    options = ["red block", "no"]
    summed = vlm.score_options(images[:1], ["q?"], options)
    mean = vlm.score_options(images[:1], ["q?"], options, length_normalize=True)
    counts = [len(vlm.tokenizer(vlm.answer_prefix + o, add_special_tokens=False)["input_ids"]) for o in options]
    np.testing.assert_allclose(mean[0].numpy(), summed[0].numpy() / np.array(counts), rtol=1e-5)


def test_per_prompt_option_lists_and_bad_option_shapes(vlm, images):
    got = vlm.score_options(images[:2], ["a?", "b?"], [["yes", "no"], ["left", "right"]])
    assert got.shape == (2, 2)
    with pytest.raises(ValueError, match="equally long"):
        vlm.score_options(images[:2], ["a?", "b?"], [["yes", "no"], ["left"]])


def test_images_change_the_scores(vlm, images):
    scores = vlm.score_options(images[:2], ["q?", "q?"], ["yes", "no"])
    assert not torch.allclose(scores[0], scores[1])


def test_generate_is_greedy_and_deterministic(vlm, images):
    a = vlm.generate(images[:2], ["Describe.", "Count."], max_new_tokens=5)
    b = vlm.generate(images[:2], ["Describe.", "Count."], max_new_tokens=5)
    assert a == b and all(isinstance(t, str) for t in a)


def test_hidden_states_are_the_last_prompt_token_of_every_layer(vlm, images):
    states = vlm.hidden_states(images[:2], ["q?", "a longer question?"])
    assert states.shape == (vlm.num_layers + 1, 2, vlm.hidden_size)
    batch = vlm.encode(images[1:2], ["a longer question?"])
    with torch.no_grad():
        ref = vlm.model(**batch, output_hidden_states=True).hidden_states
    for layer in range(vlm.num_layers + 1):
        torch.testing.assert_close(states[layer, 1], ref[layer][0, -1], atol=1e-4, rtol=1e-4)


def test_lora_trains_only_adapters_changes_outputs_and_round_trips(vlm, images, tmp_path):
    before = vlm.score_options(images[:1], ["q?"], ["yes", "no"])
    vlm.attach_lora(rank=4)
    trainable = [n for n, p in vlm.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert not any("vision" in n for n in trainable), "LoRA must stay on the language model"
    frozen = {n: p.detach().clone() for n, p in vlm.model.named_parameters() if not p.requires_grad}
    optimizer = torch.optim.SGD([p for p in vlm.model.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        loss = -vlm.score_options(images[:1], ["q?"], ["yes", "no"], grad=True)[0, 0]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    after = vlm.score_options(images[:1], ["q?"], ["yes", "no"])
    assert after[0, 0] > before[0, 0] + 1e-3
    assert all(torch.equal(p, frozen[n]) for n, p in vlm.model.named_parameters() if n in frozen)
    vlm.save_lora(tmp_path / "adapter")
    merged_expect = after.clone()
    vlm.merge_lora()
    torch.testing.assert_close(vlm.score_options(images[:1], ["q?"], ["yes", "no"]), merged_expect, atol=1e-4, rtol=1e-4)


def test_saved_lora_reloads_to_the_same_outputs(llava_dir, images, tmp_path):
    vlm = VLM.load(llava_dir)
    vlm.attach_lora(rank=4)
    for p in vlm.model.parameters():
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.1)
    expected = vlm.score_options(images[:1], ["q?"], ["yes", "no"])
    vlm.save_lora(tmp_path / "adapter")
    fresh = VLM.load(llava_dir)
    assert not torch.allclose(fresh.score_options(images[:1], ["q?"], ["yes", "no"]), expected)
    fresh.load_lora(tmp_path / "adapter")
    torch.testing.assert_close(fresh.score_options(images[:1], ["q?"], ["yes", "no"]), expected, atol=1e-5, rtol=1e-5)


def test_prompts_use_the_chat_template(llava_dir):
    vlm = VLM.load(llava_dir)
    assert format_prompt(vlm.processor, "Why?") == "USER: <image>\nWhy? ASSISTANT:"
    assert vlm.answer_prefix == " "


def test_missing_checkpoint_says_how_to_get_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads weights"):
        VLM.load("some-org/some-vlm-that-is-not-cached")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        VLM.load(tmp_path / "empty")


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8), "image.png"])
def test_bad_images_are_refused_naming_the_problem(llava_dir, bad):
    vlm = VLM.load(llava_dir)
    with pytest.raises(ValueError, match="image must be"):
        vlm.score_options([bad], ["q?"], ["yes"])


def test_trust_remote_code_is_off_by_default():
    import inspect

    assert inspect.signature(VLM.load).parameters["trust_remote_code"].default is False


def test_qwen2_vl_where_torchvision_exists(tmp_path):
    """Qwen2-VL's processor needs torchvision (its video processor); runs where it is installed."""
    pytest.importorskip("torchvision")
    from tests.perception.qwen2_vl import build_tiny_qwen2_vl

    path = build_tiny_qwen2_vl(tmp_path)
    vlm = VLM.load(path)
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (56, 56, 3), dtype=np.uint8) for _ in range(2)]
    scores = vlm.score_options(imgs, ["q?", "r?"], ["yes", "no"])
    assert scores.shape == (2, 2) and torch.isfinite(scores).all()
    assert vlm.hidden_states(imgs, ["q?", "r?"]).shape[:2] == (vlm.num_layers + 1, 2)


def test_llava_fast_path_matches_repeating_the_image_per_option(llava_dir, images, monkeypatch):
    vlm = VLM.load(llava_dir)
    assert vlm.shares_image_features
    vlm.attach_lora(rank=4)
    options = ["yes", "no", "red block"]
    fast, fast_hidden = vlm.score_options(images[:2], ["a?", "longer b?"], options, grad=True, return_hidden=True)
    fast.sum().backward()
    fast_grads = {n: p.grad.clone() for n, p in vlm.model.named_parameters() if p.grad is not None}
    vlm.model.zero_grad()
    monkeypatch.setattr(VLM, "shares_image_features", property(lambda self: False))
    slow, slow_hidden = vlm.score_options(images[:2], ["a?", "longer b?"], options, grad=True, return_hidden=True)
    slow.sum().backward()
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast_hidden, slow_hidden, atol=1e-5, rtol=1e-5)
    for name, grad in fast_grads.items():
        torch.testing.assert_close(grad, dict(vlm.model.named_parameters())[name].grad, atol=1e-5, rtol=1e-4)


def test_encoded_prompts_score_like_their_images_in_any_subset(vlm, images):
    """encode_each once, then score subsets (as PPO's minibatches do): the same scores, hidden
    states and gradients as running the processor on that subset's images."""
    prompts = ["a?", "a much longer question about the blocks?", "b?"]
    encoded = vlm.encode_each(images, prompts)
    assert [len(e.ids) for e in encoded] == vlm.encode(images, prompts)["attention_mask"].sum(dim=1).tolist()
    order = [2, 0, 1, 2]
    options = ["yes", "no", "red block"]
    got, got_hidden = vlm.score_encoded([encoded[i] for i in order], options, grad=True, return_hidden=True)
    got.sum().backward()
    got_grads = {n: p.grad.clone() for n, p in vlm.model.named_parameters() if p.grad is not None}
    vlm.model.zero_grad()
    want, want_hidden = vlm.score_options([images[i] for i in order], [prompts[i] for i in order], options, grad=True, return_hidden=True)
    want.sum().backward()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_hidden, want_hidden, atol=1e-5, rtol=1e-5)
    assert got_grads
    for name, grad in got_grads.items():
        torch.testing.assert_close(grad, dict(vlm.model.named_parameters())[name].grad, atol=1e-5, rtol=1e-4)
    assert not torch.equal(got[0], got[1])  # different images and prompts: the rows are not all one


def test_score_encoded_refuses_nothing_to_score(vlm):
    with pytest.raises(ValueError, match="nothing to score"):
        vlm.score_encoded([], ["yes"])


def test_option_token_cache_stays_bounded(vlm, images, monkeypatch):
    import physground.perception.vlm as vlm_module

    monkeypatch.setattr(vlm_module, "OPTION_CACHE_SIZE", 3)
    encoded = vlm.encode_each(images[:1], ["q?"])
    first = vlm.score_encoded(encoded, ["yes", "no"])
    for text in ("red", "blue", "left", "right", "fall"):
        vlm.score_encoded(encoded, [text])
        assert len(vlm._option_cache) <= 3
    torch.testing.assert_close(vlm.score_encoded(encoded, ["yes", "no"]), first)


def test_encode_each_splits_concatenated_patches_per_sample(llava_dir, monkeypatch):
    """Qwen2-VL-style processor output (every image's patches in one tensor, image_grid_thw per
    image, per-token extras): each sample gets its own patches, grid row and unpadded tokens, and the
    rows for K options repeat them sample by sample (runs without torchvision)."""
    vlm = VLM.load(llava_dir)
    grids = torch.tensor([[1, 2, 2], [1, 2, 3]])  # 4 and 6 patches
    patches = torch.arange(10 * 5, dtype=torch.float32).reshape(10, 5)
    batch = {
        "input_ids": torch.tensor([[5, 6, 7, 0], [8, 9, 10, 11]]), "attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]),
        "token_type_ids": torch.tensor([[1, 2, 3, 0], [4, 5, 6, 7]]), "pixel_values": patches, "image_grid_thw": grids,
    }
    monkeypatch.setattr(vlm, "encode", lambda images, prompts: batch)
    first, second = vlm.encode_each([None, None], ["a", "b"])
    assert first.ids == [5, 6, 7] and second.ids == [8, 9, 10, 11]
    assert torch.equal(first.images["pixel_values"], patches[:4]) and torch.equal(second.images["pixel_values"], patches[4:])
    assert torch.equal(second.images["image_grid_thw"], grids[1:])
    assert torch.equal(first.tokens["token_type_ids"], torch.tensor([1, 2, 3]))
    rows = vlm._rows([first, second], [first.ids + [1], first.ids + [2], second.ids + [1], second.ids + [2]], k=2)
    assert torch.equal(rows["pixel_values"], torch.cat([patches[:4], patches[:4], patches[4:], patches[4:]]))
    assert torch.equal(rows["image_grid_thw"], grids.repeat_interleave(2, dim=0))
    assert torch.equal(rows["token_type_ids"][0], torch.tensor([1, 2, 3, 0, 0]))
    assert torch.equal(rows["attention_mask"][0], torch.tensor([1, 1, 1, 1, 0]))
