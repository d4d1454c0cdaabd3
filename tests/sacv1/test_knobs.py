"""Smoke runs in the SB3 style: every knob an SB3 SAC user turns must work with SACV1."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.buffers import NStepReplayBuffer
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.distributions import StateDependentNoiseDistribution
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import BitFlippingEnv, FakeImageEnv, IdentityEnvBox
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.noise import NormalActionNoise

from sb3_maxent import SACV1

SMALL = dict(net_arch=[32, 32])


@pytest.mark.parametrize("ent_coef", ["auto", 0.01, "auto_0.01", 0.0])
def test_ent_coef(ent_coef):
    model = SACV1("MlpPolicy", "Pendulum-v1", learning_starts=50, ent_coef=ent_coef, policy_kwargs=SMALL)
    initial = model.temperature.item()
    model.learn(80)
    if isinstance(ent_coef, float):
        # a fixed temperature stays what was asked for, and is what the step used
        assert model.temperature.item() == pytest.approx(ent_coef)
        assert model.log_ent_coef is None and model.ent_coef_tensor.item() == pytest.approx(ent_coef)
    else:
        # "auto" starts at 1 and "auto_0.01" at 0.01 (SB3's rule), then moves by the dual steps
        assert initial == pytest.approx(1.0 if ent_coef == "auto" else 0.01)
        assert model.log_ent_coef.requires_grad and model.temperature.item() != initial
    assert model.logger.name_to_value["train/ent_coef"] == pytest.approx(model.temperature.item(), rel=0.05)


@pytest.mark.parametrize("n_critics", [1, 3])
def test_n_critics(n_critics):
    model = SACV1("MlpPolicy", "Pendulum-v1", learning_starts=50, policy_kwargs=dict(net_arch=[32], n_critics=n_critics))
    assert len(model.critic.q_networks) == n_critics
    model.learn(80)


def test_net_arch_dict_with_value_network():
    model = SACV1(
        "MlpPolicy", "Pendulum-v1", learning_starts=50, policy_kwargs=dict(net_arch=dict(pi=[8], qf=[16], vf=[24, 4]))
    )
    assert [m.out_features for m in model.value_net.v_net if isinstance(m, th.nn.Linear)] == [24, 4, 1]
    assert [m.out_features for m in model.actor.latent_pi if isinstance(m, th.nn.Linear)] == [8]
    model.learn(80)


@pytest.mark.parametrize("share_features_extractor", [False, True])
def test_cnn_policy(share_features_extractor):
    env = FakeImageEnv(screen_height=40, screen_width=40, n_channels=1, discrete=False)
    model = SACV1(
        "CnnPolicy",
        env,
        buffer_size=200,
        learning_starts=50,
        batch_size=8,
        policy_kwargs=dict(
            net_arch=[16], features_extractor_kwargs=dict(features_dim=16), share_features_extractor=share_features_extractor
        ),
    )
    extractor = model.actor.features_extractor
    assert (model.critic.features_extractor is extractor) == share_features_extractor
    assert (model.value_net.features_extractor is extractor) == share_features_extractor
    assert model.value_target.features_extractor is not extractor
    model.learn(60)


def test_multi_env_and_gradient_steps_minus_one():
    env = make_vec_env("Pendulum-v1", n_envs=3, seed=0)
    model = SACV1("MlpPolicy", env, learning_starts=30, train_freq=2, gradient_steps=-1, policy_kwargs=SMALL)
    model.learn(120)
    assert model.num_timesteps >= 120
    assert model._n_updates > 0


def test_sde_and_action_noise():
    model = SACV1("MlpPolicy", "Pendulum-v1", learning_starts=50, use_sde=True, sde_sample_freq=4, policy_kwargs=SMALL)
    model.learn(80)
    assert isinstance(model.actor.action_dist, StateDependentNoiseDistribution)
    # gSDE: the exploration noise is a function of the state, fixed between resets
    obs = np.tile(model.observation_space.sample(), (2, 1))
    first, _ = model.predict(obs)
    again, _ = model.predict(obs)
    np.testing.assert_array_equal(first, again)
    model.actor.reset_noise()
    resampled, _ = model.predict(obs)
    assert not np.array_equal(first, resampled)

    class CountingNoise(NormalActionNoise):
        calls = 0

        def __call__(self):
            CountingNoise.calls += 1
            return super().__call__()

    noise = CountingNoise(np.zeros(1), 0.1 * np.ones(1))
    SACV1("MlpPolicy", "Pendulum-v1", learning_starts=50, action_noise=noise, policy_kwargs=SMALL).learn(80)
    assert CountingNoise.calls == 80  # added to every collected action, as in SB3's SAC


def test_train_freq_in_episodes_and_n_step_returns():
    model = SACV1(
        "MlpPolicy", IdentityEnvBox(ep_length=20), learning_starts=20, train_freq=(1, "episode"), policy_kwargs=SMALL
    )
    model.learn(60)
    # three episodes of 20 steps; a gradient step after the second and the third (past learning_starts)
    assert model._n_updates == 2
    model = SACV1("MlpPolicy", "Pendulum-v1", learning_starts=50, n_steps=3, gamma=0.9, policy_kwargs=SMALL)
    model.learn(80)
    # Pendulum does not end within 80 steps: a transition is a 3-step return with discount gamma^3, except the
    # last two, whose window the buffer cuts at its newest entry
    assert isinstance(model.replay_buffer, NStepReplayBuffer) and model._n_updates == 30
    discounts = model.replay_buffer._get_samples(np.arange(80)).discounts.flatten()
    th.testing.assert_close(discounts, th.tensor([0.9**3] * 78 + [0.9**2, 0.9]))


def test_dict_observations_multi_input_policy():
    env = BitFlippingEnv(n_bits=4, continuous=True)
    model = SACV1("MultiInputPolicy", env, learning_starts=40, policy_kwargs=SMALL)
    model.learn(70)
    obs, _ = env.reset()
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action)


def test_her_replay_buffer_on_goal_env():
    env = BitFlippingEnv(n_bits=4, continuous=True, max_steps=4)
    model = SACV1(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs=dict(n_sampled_goal=2, goal_selection_strategy="future"),
        learning_starts=40,
        policy_kwargs=SMALL,
    )
    model.learn(80)
    assert isinstance(model.replay_buffer, HerReplayBuffer)
    assert model._n_updates > 0


def test_callbacks_progress_bar_and_evaluate_policy(tmp_path):
    eval_env = gym.make("Pendulum-v1")
    callbacks = [
        CheckpointCallback(save_freq=40, save_path=str(tmp_path), save_replay_buffer=True),
        EvalCallback(eval_env, eval_freq=50, n_eval_episodes=1, log_path=str(tmp_path)),
    ]
    model = SACV1("MlpPolicy", "Pendulum-v1", learning_starts=30, policy_kwargs=SMALL)
    model.learn(100, callback=callbacks, progress_bar=True)
    assert (tmp_path / "rl_model_80_steps.zip").exists()
    assert (tmp_path / "rl_model_replay_buffer_80_steps.pkl").exists()
    assert (tmp_path / "evaluations.npz").exists()
    mean_return, std_return = evaluate_policy(model, eval_env, n_eval_episodes=2)
    assert np.isfinite(mean_return) and np.isfinite(std_return)


def test_tensorboard_logs_the_sacv1_losses(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = SACV1("MlpPolicy", "Pendulum-v1", learning_starts=30, policy_kwargs=SMALL, tensorboard_log=str(tmp_path))
    model.learn(250, log_interval=1)
    (run_dir,) = list(tmp_path.iterdir())
    assert run_dir.name == "SACV1_1"
    events = EventAccumulator(str(run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for key in ["value_loss", "critic_loss", "actor_loss", "ent_coef", "ent_coef_loss", "entropy", "q_values", "values"]:
        assert f"train/{key}" in tags
    assert "rollout/ep_rew_mean" in tags


def test_same_seed_same_parameters():
    def run():
        model = SACV1("MlpPolicy", "Pendulum-v1", learning_starts=30, seed=3, policy_kwargs=SMALL)
        model.learn(80)
        return model.policy.state_dict()

    first, second = run(), run()
    assert all(th.equal(first[key], second[key]) for key in first)
