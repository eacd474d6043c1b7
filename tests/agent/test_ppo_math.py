"""PPO and GRPO math against hand calculations."""

from __future__ import annotations

import pytest
import torch

from physground.agent.grpo import group_advantages, grpo_loss
from physground.agent.ppo import compute_gae, ppo_loss


def test_gae_matches_a_hand_calculation_with_episode_ends_and_a_truncation():
    g, lam = 0.9, 0.8
    # One env, 4 steps: terminated after step 1, truncated (time limit) after step 3.
    r = torch.tensor([[1.0], [2.0], [0.5], [1.5]])
    v = torch.tensor([[0.5], [1.0], [0.2], [0.4]])
    term = torch.tensor([[0.0], [1.0], [0.0], [0.0]])
    trunc = torch.tensor([[0.0], [0.0], [0.0], [1.0]])
    final_v = torch.tensor([[0.0], [0.0], [0.0], [3.0]])
    last = torch.tensor([7.0])  # value of the next episode's first observation: must not leak back
    adv, ret = compute_gae(r, v, last, term, trunc, final_v, g, lam)
    d3 = 1.5 + g * 3.0 - 0.4  # truncated: bootstrap from the final observation's value
    d2 = 0.5 + g * 0.4 - 0.2
    a3, a2 = d3, d2 + g * lam * d3
    d1 = 2.0 - 1.0  # terminated: no bootstrap
    d0 = 1.0 + g * 1.0 - 0.5
    a1, a0 = d1, d0 + g * lam * d1
    torch.testing.assert_close(adv[:, 0], torch.tensor([a0, a1, a2, a3]))
    torch.testing.assert_close(ret, adv + v)


def test_gae_bootstraps_from_the_last_value_when_nothing_ends():
    adv, _ = compute_gae(torch.zeros(2, 1), torch.zeros(2, 1), torch.tensor([1.0]), torch.zeros(2, 1), torch.zeros(2, 1), torch.zeros(2, 1), 0.5, 1.0)
    torch.testing.assert_close(adv[:, 0], torch.tensor([0.25, 0.5]))


@pytest.mark.parametrize(
    ("ratio", "advantage", "clipped"),
    [(1.5, 1.0, True), (1.5, -1.0, False), (0.5, -1.0, True), (0.5, 1.0, False), (1.1, 1.0, False)],
)
def test_ppo_clipping_cases(ratio, advantage, clipped):
    old = torch.zeros(1)
    new = torch.log(torch.tensor([ratio])).requires_grad_(True)
    loss, stats = ppo_loss(new, old, torch.tensor([advantage]), torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.zeros(1), clip_coef=0.2, norm_adv=False, vf_coef=0.0)
    loss.backward()
    expected = -min(ratio * advantage, max(min(ratio, 1.2), 0.8) * advantage)
    assert float(loss.detach()) == pytest.approx(expected)
    assert (new.grad.abs().item() == 0.0) is clipped, "a clipped sample must not push the policy further"
    assert float(stats["clipfrac"]) == (1.0 if abs(ratio - 1) > 0.2 else 0.0)


def test_value_clipping_and_entropy_bonus():
    new_v, old_v, ret = torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([1.0])
    loss, stats = ppo_loss(torch.zeros(1), torch.zeros(1), torch.zeros(1), new_v, old_v, ret, torch.tensor([0.7]), clip_coef=0.2, clip_vloss=True, vf_coef=1.0, ent_coef=0.1, norm_adv=False)
    # unclipped error (2-1)^2 = 1, clipped (0.2-1)^2 = 0.64: the max is kept.
    assert float(stats["value_loss"]) == pytest.approx(0.5)
    assert float(loss) == pytest.approx(0.5 - 0.1 * 0.7)


def test_group_advantages_are_normalised_within_groups():
    rewards = torch.tensor([[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    adv = group_advantages(rewards)
    torch.testing.assert_close(adv[0], torch.tensor([1.0, -1.0, 1.0, -1.0]), atol=1e-4, rtol=0)
    assert torch.equal(adv[1], torch.zeros(4)), "all answers equally good: nothing to learn"


def test_grpo_loss_adds_the_kl_to_the_reference():
    new = torch.tensor([0.0, -1.0])
    loss0, _ = grpo_loss(new, new, torch.tensor([1.0, -1.0]), None)
    loss1, stats = grpo_loss(new, new, torch.tensor([1.0, -1.0]), new - 0.5, kl_coef=0.1)
    k3 = float(torch.exp(torch.tensor(-0.5)) + 0.5 - 1)
    assert float(stats["kl_to_reference"]) == pytest.approx(k3)
    assert float(loss1 - loss0) == pytest.approx(0.1 * k3)
