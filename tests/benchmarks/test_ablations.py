"""The campaign's update-order ablation changes exactly what it claims to (benchmarks/ablations.py)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th

from sb3_maxent import SACV1

# benchmarks/ lives in the repository only: the sdist carries the tests but not the benchmarks, so skip there
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
SequentialSACV1 = pytest.importorskip("ablations", reason="benchmarks/ is not in the sdist").SequentialSACV1


def one_gradient_step(algo_class: type[SACV1]) -> SACV1:
    """A model after one gradient step on a replay buffer that is the same for every class."""
    model = algo_class("MlpPolicy", "Pendulum-v1", learning_starts=200, batch_size=32, seed=3, ent_coef=0.2,
                       policy_kwargs=dict(net_arch=[16, 16]))  # fmt: skip
    model.learn(200)  # warm-up only: no gradient step yet
    th.manual_seed(11)
    np.random.seed(11)  # the replay buffer samples with numpy's global generator
    model.train(gradient_steps=1, batch_size=32)
    return model


def flat(module: th.nn.Module) -> th.Tensor:
    return th.cat([parameter.detach().flatten() for parameter in module.parameters()])


@pytest.fixture(scope="module")
def fused_and_sequential() -> tuple[SACV1, SACV1]:
    return one_gradient_step(SACV1), one_gradient_step(SequentialSACV1)


def test_same_start(fused_and_sequential: tuple[SACV1, SACV1]) -> None:
    fused, sequential = fused_and_sequential
    np.testing.assert_array_equal(fused.replay_buffer.observations, sequential.replay_buffer.observations)


def test_critic_step_is_the_same(fused_and_sequential: tuple[SACV1, SACV1]) -> None:
    # the critic's loss does not depend on the order: only when it is applied does
    fused, sequential = fused_and_sequential
    th.testing.assert_close(flat(fused.critic), flat(sequential.critic), rtol=0, atol=0)


@pytest.mark.parametrize("network", ["actor", "value_net"])
def test_value_and_policy_see_the_updated_critic(fused_and_sequential: tuple[SACV1, SACV1], network: str) -> None:
    fused, sequential = fused_and_sequential
    difference = (flat(getattr(fused, network)) - flat(getattr(sequential, network))).abs().max()
    assert difference > 0, f"the {network} took the same step in both orders: the ablation would be a no-op"


def test_critic_optimizer_steps_once(fused_and_sequential: tuple[SACV1, SACV1]) -> None:
    _, sequential = fused_and_sequential
    steps = {state["step"].item() for state in sequential.critic.optimizer.state.values()}
    assert steps == {1.0}


def test_resumes_as_itself(fused_and_sequential: tuple[SACV1, SACV1], tmp_path: Path) -> None:
    # the campaign resumes a run with algo_class.load: the ablation must not come back as plain SACV1
    _, sequential = fused_and_sequential
    sequential.save(tmp_path / "model.zip")
    loaded = SequentialSACV1.load(tmp_path / "model.zip", device="cpu")
    assert type(loaded) is SequentialSACV1
    th.testing.assert_close(flat(loaded.actor), flat(sequential.actor), rtol=0, atol=0)
