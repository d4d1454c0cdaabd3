"""
SACV1 for discrete actions (Christodoulou 2019 on SAC v1's value network): ``SACV1("MlpPolicy", "CartPole-v1")``.

Its targets and losses against brute-force sums over actions, the Gibbs variational principle its policy loss
relies on, one training step pinned numerically, and the SB3 behaviours as for continuous SACV1.
"""

import copy
import math
import re

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv, IdentityEnv, SimpleMultiObsEnv
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from sb3_maxent import SACV1, DivergenceError, EnvironmentDataError, epsilon_greedy_entropy
from sb3_maxent.common.boltzmann import entropy_of_log_probs
from sb3_maxent.sacv1 import BaseSACV1Policy, ContinuousSACV1, ContinuousSACV1Policy, DiscreteSACV1, DiscreteSACV1Policy
from sb3_maxent.sacv1.discrete import discrete_actor_loss_fn, expected_soft_value

SMALL = {"net_arch": [16]}


def brute_force(probs, q_values, alpha):
    """Sum over actions written as Python loops: V^(s), J_pi(s) and H(s) per state."""
    values, actor_losses, entropies = [], [], []
    for p_row, q_row in zip(probs.tolist(), q_values.tolist(), strict=True):
        values.append(sum(p * (q - alpha * math.log(p)) for p, q in zip(p_row, q_row, strict=True)))
        actor_losses.append(sum(p * (alpha * math.log(p) - q) for p, q in zip(p_row, q_row, strict=True)))
        entropies.append(-sum(p * math.log(p) for p in p_row))
    return values, actor_losses, entropies


def test_targets_and_losses_against_brute_force_sums():
    generator = th.Generator().manual_seed(0)
    log_probs = th.log_softmax(th.randn(6, 4, generator=generator), dim=1)
    min_q = 3 * th.randn(6, 4, generator=generator)
    alpha = th.tensor(0.37)
    values, actor_losses, entropies = brute_force(log_probs.exp(), min_q, 0.37)
    th.testing.assert_close(expected_soft_value(log_probs.exp(), log_probs, min_q, alpha), th.tensor(values).reshape(-1, 1))
    th.testing.assert_close(discrete_actor_loss_fn(log_probs.exp(), log_probs, min_q, alpha), th.tensor(actor_losses).mean())
    th.testing.assert_close(entropy_of_log_probs(log_probs), th.tensor(entropies))


@settings(max_examples=40, deadline=None)
@given(
    q_values=st.lists(st.floats(-20, 20), min_size=3, max_size=3),
    logits=st.lists(st.floats(-5, 5), min_size=3, max_size=3),
    alpha=st.floats(0.05, 5.0),
)
def test_the_policy_loss_is_minimised_by_the_boltzmann_policy(q_values, logits, alpha):
    # Gibbs: sum_a pi(a) (alpha log pi(a) - Q(a)) >= -alpha logsumexp(Q / alpha), with equality at softmax(Q / alpha)
    q = th.tensor([q_values], dtype=th.float64)
    boltzmann = th.log_softmax(q / alpha, dim=1)
    minimum = -alpha * th.logsumexp(q / alpha, dim=1)
    at_boltzmann = discrete_actor_loss_fn(boltzmann.exp(), boltzmann, q, alpha)
    assert at_boltzmann.item() == pytest.approx(minimum.item(), abs=1e-9)
    other = th.log_softmax(th.tensor([logits], dtype=th.float64), dim=1)
    assert discrete_actor_loss_fn(other.exp(), other, q, alpha).item() >= minimum.item() - 1e-9
    # and the value target at that policy is the soft value alpha logsumexp(Q / alpha)
    assert expected_soft_value(boltzmann.exp(), boltzmann, q, alpha).item() == pytest.approx(-minimum.item(), abs=1e-9)


def test_at_zero_temperature_the_value_target_is_the_policy_average_of_min_q():
    log_probs = th.log_softmax(th.tensor([[0.0, 1.0, -1.0]]), dim=1)
    min_q = th.tensor([[1.0, 2.0, 3.0]])
    expected = (log_probs.exp() * min_q).sum()
    assert expected_soft_value(log_probs.exp(), log_probs, min_q, th.tensor(0.0)).item() == pytest.approx(expected.item())


# one training step, pinned ------------------------------------------------------------------------------------

GAMMA = 0.9
BATCH_SIZE = 8


def fixed_batch(model):
    from stable_baselines3.common.type_aliases import ReplayBufferSamples

    generator = th.Generator().manual_seed(0)
    return ReplayBufferSamples(
        observations=th.randn(BATCH_SIZE, 4, generator=generator),
        actions=th.randint(2, (BATCH_SIZE, 1), generator=generator).float(),
        next_observations=th.randn(BATCH_SIZE, 4, generator=generator),
        dones=th.tensor([0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]).reshape(-1, 1),
        rewards=th.randn(BATCH_SIZE, 1, generator=generator),
        discounts=th.tensor([GAMMA, GAMMA, GAMMA**2, GAMMA, GAMMA**3, GAMMA, GAMMA, GAMMA**2]).reshape(-1, 1),
    )


@pytest.mark.parametrize("ent_coef", [0.3, "auto_0.5"])
def test_one_training_step_is_sgd_on_the_papers_losses(ent_coef):
    model = SACV1(
        "MlpPolicy",
        "CartPole-v1",
        learning_starts=10_000,
        batch_size=BATCH_SIZE,
        gamma=GAMMA,
        tau=0.1,
        ent_coef=ent_coef,
        learning_rate=0.5,
        policy_kwargs={"net_arch": [16], "optimizer_class": th.optim.SGD},
        seed=1,
    )
    model.learn(10)
    with th.no_grad():  # a target away from the online value network
        for parameter in model.value_target.parameters():
            parameter.add_(0.3 * th.randn_like(parameter))
    batch = fixed_batch(model)
    model.replay_buffer.sample = lambda batch_size, env=None: batch
    before = copy.deepcopy(model.policy)
    alpha = model.temperature.item()

    model.train(gradient_steps=1, batch_size=BATCH_SIZE)

    # the losses written per state and per action (docs/theory.md#sac-v1-updates, the sums over actions)
    log_pi = th.log_softmax(before.actor.logits_net(batch.observations), dim=1)
    q_all = before.critic(batch.observations)
    min_q = th.minimum(q_all[0], q_all[1])
    v_hat = th.stack([sum(log_pi[i, a].exp() * (min_q[i, a] - alpha * log_pi[i, a]) for a in range(2)) for i in range(8)])
    q_hat = (
        batch.rewards.flatten()
        + batch.discounts.flatten() * (1 - batch.dones.flatten()) * before.value_target(batch.next_observations).flatten()
    )
    j_v = 0.5 * ((before.value_net(batch.observations).flatten() - v_hat.detach()) ** 2).mean()
    taken = batch.actions.long().flatten()
    j_q = sum(0.5 * ((q[th.arange(8), taken] - q_hat.detach()) ** 2).mean() for q in q_all)
    j_pi = th.stack(
        [sum(log_pi[i, a].exp() * (alpha * log_pi[i, a] - min_q[i, a].detach()) for a in range(2)) for i in range(8)]
    ).mean()
    for loss, name in [(j_v, "value_net"), (j_q, "critic"), (j_pi, "actor")]:
        old, new = getattr(before, name), getattr(model.policy, name)
        gradients = th.autograd.grad(loss, list(old.parameters()), retain_graph=True)
        for p_old, gradient, p_new in zip(old.parameters(), gradients, new.parameters(), strict=True):
            th.testing.assert_close(p_new.detach(), p_old.detach() - 0.5 * gradient, atol=1e-5, rtol=1e-4)
    # the target moves by Polyak averaging with tau
    for old_target, value, new_target in zip(
        before.value_target.parameters(), model.value_net.parameters(), model.value_target.parameters(), strict=True
    ):
        th.testing.assert_close(new_target, 0.9 * old_target + 0.1 * value)
    entropy = -(log_pi.exp() * log_pi).sum(dim=1).mean().item()
    logged = model.logger.name_to_value
    assert logged["train/entropy"] == pytest.approx(entropy, rel=1e-5)
    assert logged["train/actor_loss"] == pytest.approx(j_pi.item(), rel=1e-5)
    assert logged["train/critic_loss"] == pytest.approx(j_q.item(), rel=1e-5)
    assert logged["train/value_loss"] == pytest.approx(j_v.item(), rel=1e-5)
    if model.temperature.learnable:
        # Adam's first step on J(log alpha) = log alpha (H - H_target): lr * sign of the gradient
        gradient = entropy - model.target_entropy
        expected = math.log(0.5) - 0.5 * gradient / (abs(gradient) + 1e-8)
        assert model.log_ent_coef.item() == pytest.approx(expected, abs=1e-5)


# the implementation SACV1 builds --------------------------------------------------------------------------------


def test_sacv1_builds_the_discrete_implementation_for_discrete_actions(tmp_path):
    model = SACV1("MlpPolicy", "CartPole-v1", policy_kwargs=SMALL)
    assert type(model) is DiscreteSACV1 and isinstance(model, SACV1)
    assert isinstance(model.policy, DiscreteSACV1Policy)
    continuous = SACV1("MlpPolicy", "Pendulum-v1", policy_kwargs=SMALL)
    assert type(continuous) is ContinuousSACV1 and isinstance(continuous, SACV1)
    assert type(continuous.policy) is ContinuousSACV1Policy
    model.save(tmp_path / "model.zip")
    assert type(SACV1.load(tmp_path / "model.zip")) is DiscreteSACV1  # without an environment: the policy tells
    assert type(SACV1.load(tmp_path / "model.zip", env=gym.make("CartPole-v1"))) is DiscreteSACV1
    continuous.save(tmp_path / "continuous.zip")
    assert type(SACV1.load(tmp_path / "continuous.zip")) is ContinuousSACV1
    # the value network and optimisers are shared; neither policy derives from the other
    assert BaseSACV1Policy in DiscreteSACV1Policy.__mro__ and BaseSACV1Policy in ContinuousSACV1Policy.__mro__
    assert not issubclass(DiscreteSACV1Policy, ContinuousSACV1Policy)


@pytest.mark.parametrize("n_actions", [2, 3, 7])
def test_default_target_entropy_is_that_of_dqns_final_epsilon_greedy_policy(n_actions):
    model = SACV1("MlpPolicy", IdentityEnv(n_actions), policy_kwargs=SMALL)
    assert model.target_entropy == pytest.approx(epsilon_greedy_entropy(0.05, n_actions))
    assert model.temperature.target_entropy == model.target_entropy
    assert SACV1("MlpPolicy", IdentityEnv(n_actions), target_entropy=0.1, policy_kwargs=SMALL).target_entropy == 0.1


def test_the_learned_temperature_follows_the_exact_entropy():
    model = SACV1(
        "MlpPolicy", IdentityEnv(4), learning_starts=20, target_entropy=0.05, ent_coef="auto", policy_kwargs=SMALL, seed=0
    )
    model.learn(300)
    # a near-deterministic target from a near-uniform start: alpha must fall from 1
    assert model.temperature.item() < 1.0
    low = SACV1("MlpPolicy", IdentityEnv(4), learning_starts=20, target_entropy=1.35, ent_coef="auto_0.01", seed=0)
    low.policy_kwargs = SMALL
    low.learn(300)
    assert low.temperature.item() > 0.01  # a near-uniform target: alpha must grow


# SB3 behaviours -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ent_coef", "loss"), [("auto", "mse"), (0.1, "huber")])
def test_save_load_is_exact_and_training_resumes_with_the_buffer(tmp_path, ent_coef, loss):
    env = IdentityEnv(5)
    model = SACV1("MlpPolicy", env, learning_starts=20, ent_coef=ent_coef, loss=loss, policy_kwargs=SMALL, seed=0)
    model.learn(60)
    model.save(tmp_path / "model.zip")
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    loaded = SACV1.load(tmp_path / "model.zip", env=env)
    loaded.load_replay_buffer(tmp_path / "buffer.pkl")
    for key, value in model.policy.state_dict().items():
        assert th.equal(value, loaded.policy.state_dict()[key]), key
    for name in ("actor", "critic", "value_net"):
        assert str(getattr(model, name).optimizer.state_dict()) == str(getattr(loaded, name).optimizer.state_dict())
    assert th.equal(loaded.temperature.value(), model.temperature.value())
    assert (loaded.target_entropy, loaded.loss) == (model.target_entropy, loss)
    observations = np.arange(5)
    assert np.array_equal(
        loaded.predict(observations, deterministic=True)[0], model.predict(observations, deterministic=True)[0]
    )
    assert loaded.replay_buffer.size() == 60
    loaded.learn(30, reset_num_timesteps=False)
    assert (loaded.num_timesteps, loaded.replay_buffer.size()) == (90, 90)


def test_vec_envs_callbacks_and_evaluation(tmp_path):
    env = make_vec_env("CartPole-v1", n_envs=2)
    eval_callback = EvalCallback(
        make_vec_env("CartPole-v1", n_envs=1), eval_freq=25, n_eval_episodes=2, log_path=str(tmp_path / "eval"), verbose=0
    )
    model = SACV1("MlpPolicy", env, learning_starts=30, gradient_steps=-1, policy_kwargs=SMALL)
    model.learn(100, callback=[CheckpointCallback(save_freq=25, save_path=str(tmp_path)), eval_callback])
    assert model._n_updates > 0 and model.num_timesteps == 100
    assert sorted(path.name for path in tmp_path.glob("*.zip")) == ["rl_model_100_steps.zip", "rl_model_50_steps.zip"]
    assert len(eval_callback.evaluations_results) == 2
    episode_returns, episode_lengths = evaluate_policy(model, env, n_eval_episodes=2, return_episode_rewards=True)
    assert episode_returns == [float(length) for length in episode_lengths]


def test_dict_observations_and_images_with_a_shared_extractor():
    multi_obs_env = SimpleMultiObsEnv(random_start=False)
    model = SACV1("MultiInputPolicy", multi_obs_env, learning_starts=30, policy_kwargs=SMALL)
    model.learn(60)
    assert model._n_updates > 0
    assert multi_obs_env.action_space.contains(int(model.predict(multi_obs_env.reset()[0])[0]))

    image_env = FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=True)
    model = SACV1(
        "CnnPolicy",
        image_env,
        learning_starts=20,
        buffer_size=100,
        batch_size=8,
        policy_kwargs=dict(net_arch=[16], share_features_extractor=True, features_extractor_kwargs={"features_dim": 32}),
    )
    extractor_before = copy.deepcopy(model.actor.features_extractor.state_dict())
    model.learn(30)
    assert model.critic.features_extractor is model.actor.features_extractor is model.value_net.features_extractor
    assert model.value_target.features_extractor is not model.actor.features_extractor
    # trained by the policy loss only, so it does move
    assert any(
        not th.equal(value, model.actor.features_extractor.state_dict()[key]) for key, value in extractor_before.items()
    )


def test_same_seed_same_parameters():
    def run():
        model = SACV1("MlpPolicy", "CartPole-v1", learning_starts=30, seed=5, policy_kwargs=SMALL)
        model.learn(80)
        return model.policy.state_dict()

    first, second = run(), run()
    assert all(th.equal(first[key], second[key]) for key in first)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"use_sde": True}, "use_sde: gSDE explores in a continuous action space"),
        ({"action_noise": NormalActionNoise(np.zeros(1), np.ones(1))}, "action_noise is added to Box actions only"),
        ({"target_entropy": 0.7}, "target_entropy=0.7 is out of reach for 2 discrete actions"),
        ({"ent_coef": -1.0}, "ent_coef"),
    ],
)
def test_bad_arguments_are_refused_with_a_sentence(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SACV1("MlpPolicy", "CartPole-v1", **kwargs)


def test_a_policy_of_the_other_action_type_is_refused():
    with pytest.raises(TypeError, match=r"^ContinuousSACV1 cannot use the policy .*\.DiscreteSACV1Policy, which is made for"):
        SACV1(DiscreteSACV1Policy, "Pendulum-v1")
    with pytest.raises(TypeError, match=r"^DiscreteSACV1 cannot use the policy .*\.ContinuousSACV1Policy, which is made for"):
        SACV1(ContinuousSACV1Policy, "CartPole-v1")


def test_the_policy_refuses_gsde():
    env = gym.make("CartPole-v1")
    with pytest.raises(ValueError, match="use_sde: gSDE explores in a continuous action space"):
        DiscreteSACV1Policy(env.observation_space, env.action_space, lambda _: 1e-3, use_sde=True)


def test_other_action_spaces_are_refused_by_sb3s_check():
    env = gym.make("CartPole-v1")
    env.action_space = gym.spaces.MultiDiscrete([2, 2])
    with pytest.raises(AssertionError, match="only supports"):
        SACV1("MlpPolicy", env)


def test_a_diverged_actor_is_reported_as_divergence():
    from sb3_maxent import DivergenceError

    model = SACV1("MlpPolicy", "CartPole-v1", learning_starts=10, policy_kwargs=SMALL, seed=0)
    model.learn(20)
    with th.no_grad():
        for parameter in model.actor.parameters():
            parameter.fill_(float("nan"))
    with pytest.raises(DivergenceError, match="the actor's output is not finite"):
        model.learn(20, reset_num_timesteps=False)


class ValidatingExtractor(BaseFeaturesExtractor):
    """A user's features extractor that refuses a non-finite output as torch's distributions do ("invalid values")."""

    def __init__(self, observation_space: gym.spaces.Space):
        super().__init__(observation_space, features_dim=4)
        self.linear = th.nn.Linear(get_flattened_obs_dim(observation_space), 4)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        features = self.linear(observations.flatten(start_dim=1))
        if not th.isfinite(features).all():
            raise ValueError("Expected parameter features to satisfy the constraint Real(), but found invalid values")
        return features


def _trained_with_a_validating_extractor() -> SACV1:
    policy_kwargs = {"net_arch": [8], "features_extractor_class": ValidatingExtractor}
    model = SACV1("MlpPolicy", "CartPole-v1", learning_starts=0, batch_size=4, policy_kwargs=policy_kwargs, seed=0)
    return model.learn(10)


def test_an_actor_refusing_a_non_finite_replay_batch_blames_the_environment():
    model = _trained_with_a_validating_extractor()
    model.replay_buffer.observations[:] = np.nan
    # 4 observations of CartPole's 4 numbers
    with pytest.raises(EnvironmentDataError, match=r"^the replay batch holds non-finite values \(16 in observations\)"):
        model.train(gradient_steps=1, batch_size=4)


def test_an_actor_refusing_its_own_output_on_a_finite_replay_batch_is_reported_as_divergence():
    model = _trained_with_a_validating_extractor()
    with th.no_grad():
        model.actor.features_extractor.linear.weight.fill_(float("nan"))
    message = (
        f"the actor's output is not finite at gradient step {model._n_updates} (environment step 10) although its "
        "input is: training diverged."
    )
    with pytest.raises(DivergenceError, match=f"^{re.escape(message)}"):
        model.train(gradient_steps=1, batch_size=4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"use_sde": True}, "use_sde: gSDE explores in a continuous action space; with Discrete actions pass use_sde=False"),
        (
            {"use_sde_at_warmup": True},
            "use_sde: gSDE explores in a continuous action space; with Discrete actions pass use_sde=False",
        ),
        (
            {"action_noise": NormalActionNoise(np.zeros(1), np.ones(1))},
            "action_noise is added to Box actions only; a softmax policy over Discrete actions explores by sampling",
        ),
    ],
)
def test_continuous_exploration_is_refused_with_the_whole_sentence(kwargs, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SACV1("MlpPolicy", "CartPole-v1", policy_kwargs=dict(SMALL), **kwargs)
    if "use_sde" in kwargs:
        env = gym.make("CartPole-v1")
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            DiscreteSACV1Policy(env.observation_space, env.action_space, lambda _: 1e-3, use_sde=True)


@pytest.mark.parametrize(
    ("implementation", "env", "space"), [(DiscreteSACV1, "Pendulum-v1", "Box"), (ContinuousSACV1, "CartPole-v1", "Discrete")]
)
def test_an_implementation_built_directly_refuses_the_other_action_space_as_sb3_does(implementation, env, space):
    with pytest.raises(AssertionError, match=rf"^The algorithm only supports \(.+\) as action spaces but {space}"):
        implementation("MlpPolicy", env, policy_kwargs=dict(SMALL))
