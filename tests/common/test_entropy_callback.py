"""EntropyTargetCallback: dual gradient descent on the temperature, for SACV1 and SB3's SAC."""

import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback

from sb3_maxent import SACV1, EntropyTargetCallback, EpsilonGreedyEntropyCallback, SoftQLearning, epsilon_greedy_entropy
from sb3_maxent.common.callbacks import (
    epsilon_greedy_target_schedule,
    exponential_target_schedule,
    linear_target_schedule,
)
from sb3_maxent.common.ent_coef import Temperature

SMALL = {"net_arch": [16]}


class ContinuousBandit(gym.Env):
    """One state, one step: reward -a^2 (the best action is 0; any entropy is a deliberate cost)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(1, dtype=np.float32), -float(np.square(action).sum()), True, False, {}


def test_gradient_of_the_dual_follows_the_seeds_rule():
    temperature = Temperature("auto", "auto", gym.spaces.Box(-1, 1, (1,)), "cpu", 1e-3)
    log_alpha = temperature.log_ent_coef
    log_prob = th.tensor([-0.5, -1.5])  # E[log pi] = -1: entropy estimate 1.0
    # E[log pi] + H_target = 1 > 0: the constraint is violated, the gradient step must raise alpha
    temperature.dual_loss(-log_prob, target_entropy=2.0).backward()
    assert log_alpha.grad.item() == pytest.approx(1.0 - 2.0)
    log_alpha.grad = None
    # entropy above target: alpha must shrink
    temperature.dual_loss(-log_prob, target_entropy=0.0).backward()
    assert log_alpha.grad.item() == pytest.approx(1.0 - 0.0)


def _model_with_filled_buffer(algo_class=SACV1, ent_coef=0.5, **kwargs):
    model = algo_class(
        "MlpPolicy", "Pendulum-v1", learning_starts=10_000, ent_coef=ent_coef, policy_kwargs=SMALL, seed=0, **kwargs
    )
    model.learn(200)  # fills the buffer, no training
    return model


@pytest.mark.parametrize(("log_std", "target", "direction"), [(-5.0, 0.0, 1), (1.0, -3.0, -1)])
def test_alpha_moves_monotonically_towards_the_constraint(log_std, target, direction):
    model = _model_with_filled_buffer()
    with th.no_grad():  # pin the policy's entropy far below (or above) the target
        model.actor.log_std.weight.zero_()
        model.actor.log_std.bias.fill_(log_std)
    callback = EntropyTargetCallback(target_entropy=target, learning_rate=0.05)
    callback.init_callback(model)
    alphas = [callback.ent_coef]
    for _ in range(10):
        callback.update(1)
        alphas.append(callback.ent_coef)
    steps = np.diff(alphas)
    assert np.all(direction * steps > 0)
    assert model.ent_coef_tensor.item() == pytest.approx(alphas[-1])


def test_drives_the_coefficient_sb3_sac_trains_with():
    model = _model_with_filled_buffer(SAC, ent_coef=0.5)
    callback = EntropyTargetCallback(target_entropy=5.0, learning_rate=0.1)
    callback.init_callback(model)
    callback.update(5)
    assert model.ent_coef_tensor.item() > 0.5
    # SAC's own train() now uses (and logs) the new value in its actor and critic losses
    model.train(gradient_steps=1, batch_size=32)
    assert model.logger.name_to_value["train/ent_coef"] == pytest.approx(model.ent_coef_tensor.item())
    assert model.logger.name_to_value["train/ent_coef"] != pytest.approx(0.5)


class RecordEntCoef(BaseCallback):
    def __init__(self):
        super().__init__()
        self.values = []

    def _on_step(self):
        self.values.append(self.model.ent_coef_tensor.item())
        return True


@pytest.mark.parametrize("algo_class", [SACV1, SAC])
def test_runs_inside_learn_and_logs(algo_class, tmp_path):
    model = algo_class("MlpPolicy", "Pendulum-v1", learning_starts=50, ent_coef=0.2, policy_kwargs=SMALL, seed=0)
    callback = EntropyTargetCallback(target_entropy=linear_target_schedule(1.0, -1.0), learning_rate=0.01)
    recorder = RecordEntCoef()
    model.learn(120, callback=[callback, recorder])
    assert recorder.values[0] == pytest.approx(0.2)
    assert recorder.values[-1] != pytest.approx(0.2)
    for key in ["train/ent_coef", "train/entropy", "train/target_entropy", "train/ent_coef_loss"]:
        assert key in model.logger.name_to_value or key in callback.logger.name_to_value


def test_entropy_converges_to_the_target_on_a_continuous_bandit():
    target = -1.0
    model = SACV1(
        "MlpPolicy",
        ContinuousBandit(),
        learning_starts=100,
        batch_size=64,
        learning_rate=3e-3,
        gamma=0.0,
        ent_coef=1.0,
        policy_kwargs={"net_arch": [16]},
        seed=0,
    )
    callback = EntropyTargetCallback(target_entropy=target, learning_rate=0.03)
    model.learn(1500, callback=callback)
    alpha_before = callback.ent_coef
    model.learn(300, callback=callback, reset_num_timesteps=False)
    with th.no_grad():
        _, log_prob = model.actor.action_log_prob(th.zeros(4000, 1))
    entropy = -log_prob.mean().item()
    assert entropy == pytest.approx(target, abs=0.3)
    # alpha has settled: it moves little once the constraint is met
    assert abs(np.log(callback.ent_coef) - np.log(alpha_before)) < 0.5


def test_resume_after_save_and_load_continues_from_the_same_alpha(tmp_path):
    model = SACV1("MlpPolicy", "Pendulum-v1", learning_starts=50, ent_coef=0.3, policy_kwargs=SMALL, seed=0)
    callback = EntropyTargetCallback(target_entropy=3.0, learning_rate=0.05)
    model.learn(100, callback=callback)
    alpha = callback.ent_coef
    assert alpha != pytest.approx(0.3)
    model.save(tmp_path / "model.zip")
    callback.save(tmp_path / "entropy.pt")

    loaded = SACV1.load(tmp_path / "model.zip", env=model.get_env())
    assert loaded.ent_coef_tensor.item() == pytest.approx(alpha)
    # a new callback starts from the model's alpha; with the saved state it also keeps the optimiser's moments
    fresh = EntropyTargetCallback(target_entropy=3.0, learning_rate=0.05)
    fresh.init_callback(loaded)
    assert fresh.ent_coef == pytest.approx(alpha)
    restored = EntropyTargetCallback(target_entropy=3.0, learning_rate=0.05)
    restored.load(tmp_path / "entropy.pt")
    restored.init_callback(loaded)
    assert restored.ent_coef == pytest.approx(alpha)
    assert restored.optimizer.state_dict()["state"][0]["step"] == callback.optimizer.state_dict()["state"][0]["step"]
    loaded.learn(50, callback=restored, reset_num_timesteps=False)


def test_schedules():
    linear = linear_target_schedule(2.0, -2.0)
    assert (linear(1.0), linear(0.5), linear(0.0)) == (2.0, 0.0, -2.0)
    exponential = exponential_target_schedule(2.0, -2.0, decay=3.0)
    assert exponential(1.0) == 2.0
    assert exponential(0.0) == pytest.approx(-2.0 + 4.0 * np.exp(-3.0))
    values = [exponential(p) for p in np.linspace(1, 0, 5)]
    assert np.all(np.diff(values) < 0)
    # decay 5 by default
    assert exponential_target_schedule(2.0, -2.0)(0.0) == pytest.approx(-2.0 + 4.0 * np.exp(-5.0))
    # any decay > 0 is a schedule, a slow one included
    assert exponential_target_schedule(2.0, -2.0, decay=0.5)(0.0) == pytest.approx(-2.0 + 4.0 * np.exp(-0.5))
    for decay in (0.0, -1.0):
        with pytest.raises(ValueError, match=rf"^decay must be > 0, got {decay}$"):
            exponential_target_schedule(2.0, -2.0, decay=decay)


def test_refusals():
    with pytest.raises(
        ValueError,
        match=r"^ContinuousSACV1 already learns its ent_coef \('auto'\): create it with a float ent_coef "
        r"\(e\.g\. ent_coef=0\.1\) to let EntropyTargetCallback drive it$",
    ):
        EntropyTargetCallback().init_callback(SACV1("MlpPolicy", "Pendulum-v1", ent_coef="auto", policy_kwargs=SMALL))
    with pytest.raises(
        ValueError,
        match=r"^EntropyTargetCallback supports SACV1 \(either action space\), SB3's SAC and discrete SoftQLearning "
        r"\(with a float ent_coef\), not PPO$",
    ):
        EntropyTargetCallback().init_callback(PPO("MlpPolicy", "Pendulum-v1"))
    for value in (0.0, float("inf")):
        with pytest.raises(ValueError, match=rf"^initial_ent_coef must be a finite number > 0, got {value}$"):
            EntropyTargetCallback(initial_ent_coef=value)
        with pytest.raises(ValueError, match=rf"^learning_rate must be a finite number > 0, got {value}$"):
            EntropyTargetCallback(learning_rate=value)
    with pytest.raises(ValueError, match=r"^batch_size must be >= 1, got 0$"):
        EntropyTargetCallback(batch_size=0)
    with pytest.raises(ValueError, match=r"\(pass initial_ent_coef\)$"):
        EntropyTargetCallback().init_callback(SACV1("MlpPolicy", "Pendulum-v1", ent_coef=0.0, policy_kwargs=SMALL))
    with pytest.raises(ValueError, match="target_entropy"):
        EntropyTargetCallback(target_entropy="high")
    with pytest.raises(
        ValueError,
        match=r"^continuous SoftQLearning samples with an SVGD sampler whose log-probability \(and entropy\) has no "
        r"closed form: EntropyTargetCallback cannot drive its temperature; set ent_coef directly$",
    ):
        EntropyTargetCallback().init_callback(
            SoftQLearning("MlpPolicy", "Pendulum-v1", ent_coef=0.1, policy_kwargs={"net_arch": [8]})
        )
    model = SACV1("MlpPolicy", "Pendulum-v1", ent_coef=0.1, policy_kwargs=SMALL)
    model.replay_buffer = None
    with pytest.raises(ValueError, match=r"^EntropyTargetCallback needs the model's replay buffer$"):
        EntropyTargetCallback().init_callback(model)


def test_defaults_boundaries_and_what_an_update_logs():
    callback = EntropyTargetCallback()
    assert (callback.learning_rate, callback.verbose, callback.initial_ent_coef, callback.batch_size) == (3e-4, 0, None, None)
    # the smallest valid values are accepted
    EntropyTargetCallback(batch_size=1, initial_ent_coef=0.5, learning_rate=1e-9)
    model = _model_with_filled_buffer(ent_coef=0.5)
    sizes = []
    sample = model.replay_buffer.sample
    model.replay_buffer.sample = lambda batch_size, env=None: sizes.append(batch_size) or sample(batch_size, env=env)
    callback = EntropyTargetCallback(target_entropy=-0.5, initial_ent_coef=0.2, batch_size=7, learning_rate=0.01)
    callback.init_callback(model)
    # initial_ent_coef replaces the model's 0.5 from the start
    assert callback.ent_coef == pytest.approx(0.2) and model.temperature.item() == pytest.approx(0.2)
    callback.update(3)
    assert sizes == [7, 7, 7]
    logged = model.logger.name_to_value
    assert logged["train/ent_coef"] == pytest.approx(callback.ent_coef)
    assert logged["train/target_entropy"] == -0.5
    assert np.isfinite(logged["train/entropy"]) and np.isfinite(logged["train/ent_coef_loss"])
    # no new gradient steps of the model: no dual step at the next rollout
    before = callback.ent_coef
    callback.on_rollout_start()
    assert callback.ent_coef == before
    # a state loaded after initialisation applies at once
    state = callback.state_dict()
    callback.update(2)
    callback.load_state_dict(state)
    assert callback.log_ent_coef.item() == pytest.approx(state["log_ent_coef"].item())


def test_discrete_soft_q_learning_uses_the_exact_boltzmann_entropy():
    # a fresh dict: SB3 adds "use_sde" to the policy_kwargs it is given, which DQN-style policies refuse
    model = SoftQLearning(
        "MlpPolicy", "CartPole-v1", learning_starts=10_000, ent_coef=0.01, policy_kwargs={"net_arch": [16]}, seed=0
    )
    model.learn(200)
    # target: nearly uniform (0.98 log 2); with alpha = 0.01 the policy is far more peaked
    callback = EntropyTargetCallback(target_entropy=0.98 * np.log(2), learning_rate=0.1)
    callback.init_callback(model)
    assert callback.current_target_entropy() == pytest.approx(0.98 * np.log(2))
    entropy = callback._batch_entropy()
    with th.no_grad():
        obs = th.as_tensor(model.replay_buffer.observations[:5, 0])
        probs = th.softmax(model.q_net(obs) / 0.01, dim=1)
    assert th.all(entropy >= 0) and th.all(entropy <= np.log(2) + 1e-6)
    assert th.all((-(probs * th.log(probs.clamp_min(1e-30))).sum(1)) <= np.log(2) + 1e-6)
    callback.update(20)
    assert model.ent_coef_tensor.item() > 0.01
    # the policy acts with the new temperature: it reads the model's, the one owner
    assert model.policy.temperature is model.temperature
    # and SoftQLearning's own train() uses it too
    model.train(gradient_steps=1, batch_size=32)
    assert model.logger.name_to_value["train/ent_coef"] == pytest.approx(model.ent_coef_tensor.item())


def test_discrete_sacv1_uses_the_exact_entropy_of_its_softmax_actor():
    model = SACV1("MlpPolicy", "CartPole-v1", learning_starts=10_000, ent_coef=0.01, policy_kwargs=SMALL, seed=0)
    model.learn(200)
    callback = EntropyTargetCallback(target_entropy=0.98 * np.log(2), learning_rate=0.1)
    callback.init_callback(model)
    np.random.seed(0)  # the replay buffer samples its indices with NumPy's global generator
    entropy = callback._batch_entropy()
    np.random.seed(0)
    observations = model.replay_buffer.sample(model.batch_size).observations
    with th.no_grad():
        probs = th.softmax(
            model.actor.logits_net(model.actor.extract_features(observations, model.actor.features_extractor)), 1
        )
    # exact, not a one-sample estimate: -sum_a pi log pi of the same batch
    th.testing.assert_close(entropy, -(probs * probs.log()).sum(1))
    # a near-uniform target above the current entropy raises alpha, and the algorithm trains with the new value
    assert entropy.mean().item() < 0.98 * np.log(2)
    callback.update(20)
    assert model.temperature.item() == pytest.approx(callback.ent_coef) and callback.ent_coef > 0.01
    model.train(gradient_steps=1, batch_size=32)
    assert model.logger.name_to_value["train/ent_coef"] == pytest.approx(callback.ent_coef)


class DiscreteBandit(gym.Env):
    """One state, one step, four arms with fixed rewards: Q*(a) = r(a) when gamma = 0."""

    rewards = np.array([1.0, 0.5, 0.0, -0.5])
    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(4)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(1, dtype=np.float32), float(self.rewards[int(action)]), True, False, {}


def boltzmann_entropy(values: np.ndarray, alpha: float) -> float:
    logits = values / alpha
    log_probs = logits - np.logaddexp.reduce(logits)
    return float(-(np.exp(log_probs) * log_probs).sum())


def test_entropy_and_alpha_converge_on_a_discrete_bandit():
    from scipy.optimize import brentq

    target = 0.8  # between 0 (greedy) and log 4 = 1.386 (uniform)
    # the temperature at which the soft-optimal policy exp(r / alpha) / Z has exactly the target entropy
    alpha_star = brentq(lambda alpha: boltzmann_entropy(DiscreteBandit.rewards, alpha) - target, 1e-3, 100.0)
    model = SoftQLearning(
        "MlpPolicy",
        DiscreteBandit(),
        learning_starts=100,
        batch_size=64,
        learning_rate=3e-3,
        gamma=0.0,
        train_freq=1,
        target_update_interval=1,
        ent_coef=1.0,
        policy_kwargs={"net_arch": [16]},
        seed=0,
    )
    callback = EntropyTargetCallback(target_entropy=target, learning_rate=0.03)
    model.learn(2000, callback=callback)
    alphas = []
    for _ in range(4):  # alpha has settled: it stays near alpha* over further updates
        model.learn(100, callback=callback, reset_num_timesteps=False)
        alphas.append(callback.ent_coef)
    with th.no_grad():
        q_values = model.q_net(th.zeros(1, 1)).numpy()[0]
    np.testing.assert_allclose(q_values, DiscreteBandit.rewards, atol=0.05)
    assert boltzmann_entropy(q_values, callback.ent_coef) == pytest.approx(target, abs=0.05)
    assert np.allclose(alphas, alpha_star, rtol=0.15), (alphas, alpha_star)


def test_load_reads_tensors_only(tmp_path):
    # the callback's file holds tensors and an optimiser state: loading it never unpickles arbitrary objects
    model = _model_with_filled_buffer()
    callback = EntropyTargetCallback(target_entropy=-1.0)
    callback.init_callback(model)
    callback.save(tmp_path / "callback.pt")
    callback.load(tmp_path / "callback.pt")
    state = callback.state_dict()
    state["untrusted"] = NotATensor()
    th.save(state, tmp_path / "tampered.pt")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        callback.load(tmp_path / "tampered.pt")


class NotATensor:
    """An arbitrary class: torch.load(weights_only=True) refuses to build it."""


def test_epsilon_greedy_target_schedule_follows_dqns_exploration():
    # SB3 DQN's defaults: epsilon 1 -> 0.05 over the first 10% of training
    schedule = epsilon_greedy_target_schedule(4)
    # epsilon = 1 is the uniform policy, log 4, which no softmax policy reaches: capped at 0.98 log 4
    assert schedule(1.0) == pytest.approx(0.98 * np.log(4))
    # halfway through the decay, epsilon = (1 + 0.05) / 2; after it, 0.05 for good
    assert schedule(0.95) == pytest.approx(epsilon_greedy_entropy(0.525, 4))
    for progress_remaining in (0.9, 0.5, 0.0):
        assert schedule(progress_remaining) == pytest.approx(epsilon_greedy_entropy(0.05, 4))
    # the entropy falls as epsilon does
    values = [schedule(p) for p in np.linspace(1.0, 0.0, 41)]
    assert np.all(np.diff(values) <= 0) and values[0] > values[-1]
    # DQN's arguments carry their meaning: rl_zoo3's LunarLander-v3 entry
    lunar = epsilon_greedy_target_schedule(4, exploration_fraction=0.12, exploration_final_eps=0.1, max_fraction=0.9)
    assert lunar(1.0) == pytest.approx(0.9 * np.log(4))
    assert lunar(0.88) == pytest.approx(epsilon_greedy_entropy(0.1, 4)) == pytest.approx(0.3488, abs=1e-4)
    # epsilon starting low enough: no cap at all
    assert epsilon_greedy_target_schedule(2, exploration_initial_eps=0.2)(1.0) == pytest.approx(epsilon_greedy_entropy(0.2, 2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_actions": 1}, r"^n_actions must be >= 2 \(one action has no entropy to target\), got 1$"),
        ({"max_fraction": 1.0}, r"^max_fraction must be in \(0, 1\), got 1.0$"),
        ({"max_fraction": 0.0}, r"^max_fraction must be in \(0, 1\), got 0.0$"),
        ({"exploration_fraction": 1.5}, r"^exploration_fraction must be in \[0, 1\], as for SB3's DQN, got 1.5$"),
        ({"exploration_final_eps": -0.1}, r"^exploration_final_eps must be in \[0, 1\], as for SB3's DQN, got -0.1$"),
        ({"exploration_initial_eps": 2.0}, r"^exploration_initial_eps must be in \[0, 1\], as for SB3's DQN, got 2.0$"),
    ],
)
def test_epsilon_greedy_target_schedule_refuses_bad_arguments(kwargs, message):
    arguments = {"n_actions": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        epsilon_greedy_target_schedule(**arguments)
    if "n_actions" not in kwargs:  # the callback checks the same when it is created
        with pytest.raises(ValueError, match=message):
            EpsilonGreedyEntropyCallback(**kwargs)


@pytest.mark.parametrize("algo_class", [SoftQLearning, SACV1])
def test_epsilon_greedy_entropy_callback_drives_the_temperature_along_the_schedule(algo_class):
    model = algo_class("MlpPolicy", "CartPole-v1", learning_starts=100, ent_coef=1.0, policy_kwargs={"net_arch": [16]}, seed=0)
    callback = EpsilonGreedyEntropyCallback(exploration_fraction=0.5, exploration_final_eps=0.04, learning_rate=0.01)
    targets = []
    update = callback.update
    callback.update = lambda n_steps: targets.append(callback.current_target_entropy()) or update(n_steps)
    model.learn(400, callback=callback)
    expected = epsilon_greedy_target_schedule(2, exploration_fraction=0.5, exploration_final_eps=0.04)
    assert callback.current_target_entropy() == pytest.approx(expected(model._current_progress_remaining))
    # the target fell along the schedule during training, down to the final epsilon's entropy
    assert targets[0] > targets[-1] == pytest.approx(epsilon_greedy_entropy(0.04, 2))
    assert model.logger.name_to_value["train/target_entropy"] == pytest.approx(targets[-1])
    # the temperature the algorithm trains with is the callback's
    assert model.temperature.item() == pytest.approx(callback.ent_coef) and callback.ent_coef != 1.0


def test_epsilon_greedy_entropy_callback_refuses_continuous_actions():
    with pytest.raises(
        ValueError,
        match=r"^EpsilonGreedyEntropyCallback targets the entropy of an epsilon-greedy policy over discrete actions; "
        r"the action space is Box\(.*\): use EntropyTargetCallback with a float or a schedule$",
    ):
        EpsilonGreedyEntropyCallback().init_callback(SACV1("MlpPolicy", "Pendulum-v1", ent_coef=0.1, policy_kwargs=SMALL))
