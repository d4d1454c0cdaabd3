"""What SB3 accepts we accept, with SB3's meaning; what is wrong gets one clear sentence (issue 12)."""

import os
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.envs import IdentityEnv, IdentityEnvBox
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_maxent import SACV1, EntropyTargetCallback, EnvironmentDataError, SoftQLearning, TabularMDP
from sb3_maxent.sql import ContinuousSoftQLearning
from sb3_maxent.tabular.solvers import soft_policy_evaluation, soft_value_iteration

SMALL = {"net_arch": [8]}  # copied per model: SB3 adds keys to the dict it is given


def make(algo: str, **kwargs):
    if algo == "sacv1":
        return SACV1("MlpPolicy", IdentityEnvBox(-1, 1), policy_kwargs=dict(SMALL), **kwargs)
    if algo == "sql_continuous":
        return SoftQLearning("MlpPolicy", IdentityEnvBox(-1, 1), ent_coef=0.1, policy_kwargs=dict(SMALL), **kwargs)
    return SoftQLearning("MlpPolicy", "CartPole-v1", policy_kwargs=dict(SMALL), **kwargs)


def online_and_target(model) -> tuple[th.nn.Module, th.nn.Module]:
    if isinstance(model, SACV1):
        return model.value_net, model.value_target
    if isinstance(model, ContinuousSoftQLearning):
        return model.critic, model.critic_target
    return model.q_net, model.q_net_target


def parameters(module: th.nn.Module) -> list[th.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(first: list[th.Tensor], second: list[th.Tensor]) -> bool:
    return all(th.equal(a, b) for a, b in zip(first, second, strict=True))


ALGOS = ["sacv1", "sql_discrete", "sql_continuous"]


@pytest.mark.parametrize("algo", ALGOS)
def test_tau_zero_freezes_the_target(algo):
    model = make(algo, tau=0.0, learning_starts=20, train_freq=1, target_update_interval=1, seed=0)
    online, target = online_and_target(model)
    online_before, target_before = parameters(online), parameters(target)
    model.learn(60)
    assert model._n_updates > 0
    assert not same(parameters(online), online_before), "the online network must train"
    assert same(parameters(target), target_before), "tau=0: the target must not move"


@pytest.mark.parametrize("algo", ALGOS)
def test_gradient_steps_zero_collects_without_training(algo):
    model = make(algo, gradient_steps=0, learning_starts=10, train_freq=1, seed=0)
    before = parameters(model.policy)
    model.learn(50)
    assert model.replay_buffer.size() == 50
    assert model._n_updates == 0
    assert same(parameters(model.policy), before)


@pytest.mark.parametrize("kwargs", [{"gradient_steps": -2}, {"tau": 1.01}, {"gamma": -0.01}])
@pytest.mark.parametrize("algo", ALGOS)
def test_what_sb3_cannot_mean_is_still_refused(algo, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        make(algo, **kwargs)


# defaults ------------------------------------------------------------------------------------------


def test_discrete_defaults_learn_the_temperature_with_dqns_loss():
    model = SoftQLearning("MlpPolicy", "CartPole-v1")
    assert model.ent_coef == "auto_0.1" and model.log_ent_coef is not None
    assert model.temperature.item() == pytest.approx(0.1)
    assert model.loss == "huber"
    # the entropy of DQN's final epsilon-greedy policy (epsilon 0.05, 2 actions)
    assert model.target_entropy == pytest.approx(-(0.975 * np.log(0.975) + 0.025 * np.log(0.025)))


def test_continuous_default_temperature_is_a_fixed_float():
    model = SoftQLearning("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(SMALL))
    assert model.ent_coef == 0.01 and model.log_ent_coef is None


def test_defaults_pass_sb3s_her_bit_flipping_test():
    # SB3's tests/test_callbacks.py::test_eval_success_logging for DQN, with SoftQLearning's class defaults
    from stable_baselines3 import HerReplayBuffer
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.envs import BitFlippingEnv

    eval_callback = EvalCallback(DummyVecEnv([lambda: BitFlippingEnv(n_bits=2)] * 2), eval_freq=250, warn=False)
    model = SoftQLearning(
        "MultiInputPolicy", BitFlippingEnv(n_bits=2), replay_buffer_class=HerReplayBuffer, learning_starts=100, seed=0
    )
    model.learn(500, callback=eval_callback)
    assert np.mean(eval_callback._is_success_buffer) > 0.5


def test_defaults_pass_sb3s_identity_test():
    # SB3's tests/test_identity.py::test_discrete for DQN, with SoftQLearning's class defaults
    env = DummyVecEnv([lambda: IdentityEnv(4)])
    model = SoftQLearning("MlpPolicy", env, gamma=0.4, seed=3, learning_rate=0.002, learning_starts=0).learn(1200)
    evaluate_policy(model, env, n_eval_episodes=20, reward_threshold=90, warn=False)


def test_exploration_final_eps_sets_the_target_entropy_of_dqns_exploration():
    model = SoftQLearning("MlpPolicy", IdentityEnv(4), exploration_final_eps=0.02, policy_kwargs=dict(SMALL))
    greedy, other = 1 - 0.02 + 0.02 / 4, 0.02 / 4
    assert model.target_entropy == pytest.approx(-(greedy * np.log(greedy) + 3 * other * np.log(other)))
    with pytest.raises(ValueError, match="not both"):
        SoftQLearning("MlpPolicy", IdentityEnv(4), exploration_final_eps=0.02, target_entropy=0.5)
    with pytest.raises(ValueError, match="epsilon"):
        SoftQLearning("MlpPolicy", IdentityEnv(4), exploration_final_eps=1.5)
    with pytest.raises(ValueError, match="exploration_final_eps applies to Discrete actions only"):
        SoftQLearning("MlpPolicy", "Pendulum-v1", ent_coef=0.1, exploration_final_eps=0.02)


def test_a_model_made_with_exploration_final_eps_saves_and_loads(tmp_path):
    model = SoftQLearning("MlpPolicy", IdentityEnv(4), exploration_final_eps=0.02, policy_kwargs=dict(SMALL))
    model.save(tmp_path / "model.zip")
    loaded = SoftQLearning.load(tmp_path / "model.zip")
    assert loaded.target_entropy == model.target_entropy and loaded.exploration_final_eps == 0.02


def test_many_envs_warn_as_dqn_does():
    from stable_baselines3.common.env_util import make_vec_env

    with pytest.warns(UserWarning, match=r"The number of environments used is greater .*\(2 > 1\)") as record:
        SoftQLearning("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2), buffer_size=100, target_update_interval=1)
    # it names the user's line, not one inside the library
    assert [warning.filename for warning in record] == [__file__]


def test_user_stacklevel_skips_the_library_frames():
    import warnings

    from sb3_maxent.common.validation import user_stacklevel

    def library_function():  # stands for a function of the package, as this file's directory is passed as the library's
        warnings.warn("from the library", UserWarning, stacklevel=user_stacklevel((os.path.dirname(__file__) + os.sep,)))

    with pytest.warns(UserWarning) as record:
        library_function()
    # every frame of this directory is skipped: the warning names the first frame outside it (pytest's runner)
    assert record[0].filename != __file__
    with pytest.warns(UserWarning) as record:
        warnings.warn("direct", UserWarning, stacklevel=user_stacklevel(("/nonexistent" + os.sep,)))
    assert record[0].filename == __file__ and record[0].lineno == sys._getframe().f_lineno - 1


# loading another class's file --------------------------------------------------------------------


def test_loading_an_sb3_sac_file_with_sacv1_names_both_classes(tmp_path):
    SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(SMALL)).save(tmp_path / "sac.zip")
    with pytest.raises(TypeError, match=r"SACV1 cannot use .*SACPolicy: it belongs to stable_baselines3\.SAC.*SAC\.load"):
        SACV1.load(tmp_path / "sac.zip")


def test_loading_a_sacv1_file_with_soft_q_learning_names_both_classes(tmp_path):
    SACV1("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(SMALL)).save(tmp_path / "sacv1.zip")
    with pytest.raises(TypeError, match=r"SoftQLearning cannot use .*SACV1Policy: it belongs to sb3_maxent\.SACV1"):
        SoftQLearning.load(tmp_path / "sacv1.zip")


# the callback's target ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", [5.0, -0.1, float("nan"), lambda progress: 5.0])
def test_callback_refuses_a_target_the_discrete_policy_cannot_reach(target):
    model = SoftQLearning("MlpPolicy", "CartPole-v1", ent_coef=0.1, policy_kwargs=dict(SMALL))
    callback = EntropyTargetCallback(target_entropy=target)
    with pytest.raises(ValueError, match="target_entropy"):
        callback.init_callback(model)


def test_callback_refuses_a_nan_target_for_box_actions():
    model = SACV1("MlpPolicy", "Pendulum-v1", ent_coef=0.1, policy_kwargs=dict(SMALL))
    with pytest.raises(ValueError, match="finite"):
        EntropyTargetCallback(target_entropy=float("nan")).init_callback(model)


# data from the environment -----------------------------------------------------------------------


class BrokenEnv(gym.Wrapper):
    """Turns rewards NaN or observations infinite after ``after`` steps, as a broken simulator would."""

    def __init__(self, env: gym.Env, what: str, after: int = 30):
        super().__init__(env)
        self.what, self.after, self.steps = what, after, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        if self.steps > self.after:
            if self.what == "rewards":
                reward = float("nan")
            else:
                obs = np.full_like(obs, np.inf)
        return obs, reward, terminated, truncated, info


def broken(algo: str, what: str):
    env = gym.make("CartPole-v1") if algo == "sql_discrete" else IdentityEnvBox(-1, 1)
    algo_class = SACV1 if algo == "sacv1" else SoftQLearning
    kwargs = {"ent_coef": 0.1} if algo == "sql_continuous" else {}
    return algo_class("MlpPolicy", BrokenEnv(env, what), learning_starts=40, train_freq=1, policy_kwargs=dict(SMALL), **kwargs)


@pytest.mark.parametrize("what", ["rewards", "observations"])
@pytest.mark.parametrize("algo", ALGOS)
def test_non_finite_environment_data_is_blamed_on_the_environment(algo, what):
    model = broken(algo, what)
    with pytest.raises(EnvironmentDataError, match=rf"non-finite values \(\d+ in (next_)?{what}.*VecCheckNan") as error:
        model.learn(150)
    assert "diverged" not in str(error.value)


# tabular MDPs ------------------------------------------------------------------------------------


def two_state_mdp(**kwargs) -> TabularMDP:
    transitions = np.zeros((2, 2, 2))
    transitions[:, :, 1] = 1.0
    return TabularMDP.from_arrays(transitions, np.zeros((2, 2)), **kwargs)


def test_fractional_terminal_state_is_refused():
    with pytest.raises(ValueError, match="terminal_states must be integer state indices"):
        two_state_mdp(terminal_states=[1.7])
    assert two_state_mdp(terminal_states=[1.0]).transitions.nnz == 0
    assert two_state_mdp(terminal_states=np.array([1])).transitions.nnz == 0


@pytest.mark.parametrize("transitions", [np.zeros((3, 0, 3)), __import__("scipy.sparse").sparse.csr_matrix((0, 3))])
def test_mdp_without_actions_is_refused(transitions):
    with pytest.raises(ValueError, match="3 states but no actions"):
        TabularMDP.from_arrays(transitions, np.zeros((3, 0)))


def test_overflow_with_gamma_below_one_names_the_scale_not_a_cycle():
    transitions = np.zeros((2, 2, 2))
    transitions[:, :, 0] = 1.0
    mdp = TabularMDP.from_arrays(transitions, np.full((2, 2), 1e307))
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(FloatingPointError, match=r"gamma = 0\.99") as error:
        soft_value_iteration(mdp, gamma=0.99, ent_coef=1.0)
    assert "cycle" not in str(error.value) and "rescale the rewards" in str(error.value)
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(FloatingPointError, match="rescale"):
        soft_policy_evaluation(mdp, np.full((2, 2), 0.5), gamma=0.99, ent_coef=1.0, method="iterative")


SHARED_DEFAULTS = (
    "buffer_size",
    "learning_starts",
    "batch_size",
    "tau",
    "gamma",
    "gradient_steps",
    "target_update_interval",
    "optimize_memory_usage",
    "_stats_window_size",
    "verbose",
)


@pytest.mark.parametrize(("ours", "sb3", "env"), [("SACV1", "SAC", "Pendulum-v1"), ("SoftQLearning", "DQN", "CartPole-v1")])
def test_defaults_are_sb3s(ours, sb3, env):
    import stable_baselines3

    import sb3_maxent

    ours_model = getattr(sb3_maxent, ours)("MlpPolicy", env)
    sb3_model = getattr(stable_baselines3, sb3)("MlpPolicy", env)
    for name in SHARED_DEFAULTS + (("max_grad_norm",) if sb3 == "DQN" else ()):
        if hasattr(sb3_model, name):
            assert getattr(ours_model, name) == getattr(sb3_model, name), name
    assert ours_model.train_freq == sb3_model.train_freq
    assert type(ours_model.replay_buffer) is type(sb3_model.replay_buffer)


@pytest.mark.parametrize(("ours", "env"), [("SACV1", "Pendulum-v1"), ("SoftQLearning", "CartPole-v1")])
def test_buffer_and_logging_arguments_reach_sb3(ours, env, tmp_path):
    from stable_baselines3.common.buffers import ReplayBuffer

    import sb3_maxent

    class TaggedBuffer(ReplayBuffer):
        def __init__(self, *args, tag=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.tag = tag

    model = getattr(sb3_maxent, ours)(
        "MlpPolicy",
        env,
        buffer_size=500,
        replay_buffer_class=TaggedBuffer,
        replay_buffer_kwargs={"tag": "kept", "handle_timeout_termination": False},
        optimize_memory_usage=True,
        stats_window_size=7,
        tensorboard_log=str(tmp_path),
        learning_starts=10,
    )
    assert isinstance(model.replay_buffer, TaggedBuffer) and model.replay_buffer.tag == "kept"
    assert model.replay_buffer.optimize_memory_usage and model.replay_buffer.buffer_size == 500
    model.learn(40)
    assert model.ep_info_buffer.maxlen == 7 and model.tensorboard_log == str(tmp_path)
    assert len(list(tmp_path.iterdir())) == 1  # the TensorBoard run folder
