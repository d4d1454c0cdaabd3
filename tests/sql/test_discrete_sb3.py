"""Discrete SoftQLearning's contract: arguments handed to SB3, the target network's update
schedule (every ``target_update_interval`` environment steps, batch-norm statistics copied), the multi-env warning,
the temperature optimiser's initial learning rate, learn()'s defaults and the errors it raises."""

import re
import warnings

import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import IdentityEnv
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

import sb3_maxent.sql.sql as sql_module
from sb3_maxent import DivergenceError, SoftQLearning, epsilon_greedy_entropy

SMALL = {"net_arch": [8]}


class LinearBatchNormExtractor(BaseFeaturesExtractor):
    """A features extractor with batch-norm running statistics."""

    def __init__(self, observation_space, features_dim: int = 4):
        super().__init__(observation_space, features_dim)
        self.linear = nn.Linear(get_flattened_obs_dim(observation_space), features_dim)
        self.bn = nn.BatchNorm1d(features_dim)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.bn(self.linear(th.flatten(observations, start_dim=1).float()))


def test_verbose_and_learning_rate_reach_sb3():
    model = SoftQLearning("MlpPolicy", IdentityEnv(2), learning_rate=5e-4, verbose=2, policy_kwargs=SMALL)
    assert model.verbose == 2
    assert model.learning_rate == 5e-4
    assert model.policy.optimizer.param_groups[0]["lr"] == 5e-4


def test_temperature_optimiser_starts_at_the_schedules_initial_value():
    model = SoftQLearning(
        "MlpPolicy", IdentityEnv(2), learning_rate=lambda progress_remaining: 2e-3 * progress_remaining, policy_kwargs=SMALL
    )
    assert model.ent_coef_optimizer.param_groups[0]["lr"] == 2e-3
    assert model.policy.optimizer.param_groups[0]["lr"] == 2e-3


def test_target_entropy_and_exploration_final_eps_are_exclusive():
    with pytest.raises(ValueError, match=r"^pass target_entropy or exploration_final_eps \(which sets it\), not both$"):
        SoftQLearning("MlpPolicy", IdentityEnv(2), target_entropy=0.3, exploration_final_eps=0.05, policy_kwargs=SMALL)


def test_exploration_fraction_schedules_the_entropy_target_as_dqn_schedules_epsilon(tmp_path):
    # DQN's arguments: epsilon 0.8 -> 0.04 over the first half of training, 2 actions
    model = SoftQLearning(
        "MlpPolicy",
        "CartPole-v1",
        exploration_fraction=0.5,
        exploration_initial_eps=0.8,
        exploration_final_eps=0.04,
        learning_starts=20,
        train_freq=1,
        policy_kwargs=SMALL,
        seed=0,
    )
    # it starts where the schedule starts, and train() moves it with the progress, as DQN's epsilon moves
    assert model.temperature.target_entropy == pytest.approx(epsilon_greedy_entropy(0.8, 2))
    targets = []
    model.learn(100, callback=RecordTarget(targets))
    expected = [epsilon_greedy_entropy(max(0.8 + (0.04 - 0.8) * (1 - p) / 0.5, 0.04), 2) for p, _ in targets]
    assert [target for _, target in targets] == pytest.approx(expected)
    assert targets[0][1] > targets[-1][1] == pytest.approx(epsilon_greedy_entropy(0.04, 2))
    assert model.logger.name_to_value["train/target_entropy"] == pytest.approx(model.temperature.target_entropy)
    # the model's target_entropy is a view of the temperature's, not a copy left at the schedule's start
    assert model.target_entropy == model.temperature.target_entropy == targets[-1][1]
    # saved and reloaded: the schedule is rebuilt from the saved arguments, and a resumed run goes on with it
    model.save(tmp_path / "model")
    loaded = SoftQLearning.load(tmp_path / "model", env=model.get_env())
    assert (loaded.exploration_fraction, loaded.exploration_initial_eps) == (0.5, 0.8)
    assert loaded.temperature.target_entropy_schedule(0.75) == pytest.approx(model.temperature.target_entropy_schedule(0.75))
    # without exploration_fraction (or with 0, DQN's epsilon final at once): a constant target, as before
    for fraction in (None, 0.0):
        constant = SoftQLearning("MlpPolicy", IdentityEnv(2), exploration_fraction=fraction, exploration_final_eps=0.04)
        assert constant.temperature.target_entropy_schedule is None
        assert constant.temperature.target_entropy == pytest.approx(epsilon_greedy_entropy(0.04, 2))
    # a fixed temperature has no target to schedule: ignored, as target_entropy is (a config's exploration arguments
    # stay valid when a tuning trial draws a fixed ent_coef)
    fixed = SoftQLearning("MlpPolicy", IdentityEnv(2), ent_coef=0.2, exploration_fraction=0.5, policy_kwargs=SMALL)
    assert fixed.temperature.target_entropy_schedule is None and not fixed.temperature.learnable
    # DQN's default final epsilon when only the fraction is given
    default_final = SoftQLearning("MlpPolicy", IdentityEnv(2), exploration_fraction=0.5, policy_kwargs=SMALL)
    assert default_final.temperature.target_entropy_schedule(0.0) == pytest.approx(epsilon_greedy_entropy(0.05, 2))


class RecordTarget(BaseCallback):
    """(progress remaining, entropy target) after each training phase."""

    def __init__(self, records: list) -> None:
        super().__init__()
        self.records = records

    def _on_rollout_start(self) -> None:
        if self.model._n_updates > 0:
            self.records.append((self.model._current_progress_remaining, self.model.temperature.target_entropy))

    def _on_step(self) -> bool:
        return True


def test_exploration_fraction_refusals():
    with pytest.raises(ValueError, match=r"^pass target_entropy or exploration_fraction \(which schedules it\), not both$"):
        SoftQLearning("MlpPolicy", IdentityEnv(2), target_entropy=0.3, exploration_fraction=0.1, policy_kwargs=SMALL)
    with pytest.raises(ValueError, match=r"^exploration_fraction must be in \[0, 1\], as for SB3's DQN, got 1\.5$"):
        SoftQLearning("MlpPolicy", IdentityEnv(2), exploration_fraction=1.5, policy_kwargs=SMALL)
    with pytest.raises(ValueError, match=r"^exploration_initial_eps must be in \[0, 1\], as for SB3's DQN, got -1$"):
        SoftQLearning("MlpPolicy", IdentityEnv(2), exploration_fraction=0.1, exploration_initial_eps=-1, policy_kwargs=SMALL)


def test_soft_q_learning_itself_cannot_be_initialised():
    """Only the implementations are constructed; __init__ on a bare SoftQLearning says so."""
    bare = object.__new__(SoftQLearning)
    with pytest.raises(TypeError, match=r"^SoftQLearning is built through one of its implementations$"):
        SoftQLearning.__init__(bare, "MlpPolicy", IdentityEnv(2))


@pytest.mark.parametrize(
    ("n_envs", "target_update_interval", "expected_steps"),
    [(1, 3, [3, 6, 9]), (1, 1, list(range(1, 10))), (2, 3, [2, 4, 6, 8, 10]), (2, 4, [4, 8])],
)
def test_target_is_updated_every_target_update_interval_env_steps(monkeypatch, n_envs, target_update_interval, expected_steps):
    """As SB3's DQN: every max(target_update_interval // n_envs, 1) calls of env.step()."""
    model = SoftQLearning(
        "MlpPolicy",
        make_vec_env(IdentityEnv, n_envs=n_envs, env_kwargs={"dim": 2}),
        learning_starts=100,
        train_freq=1,
        target_update_interval=target_update_interval,
        policy_kwargs=SMALL,
        seed=0,
    )
    updates = []
    real_polyak_update = sql_module.polyak_update

    def recording_polyak_update(params, target_params, tau):
        if not isinstance(params, list):  # the weights, not the batch-norm statistics
            updates.append(model.num_timesteps)
        real_polyak_update(params, target_params, tau)

    monkeypatch.setattr(sql_module, "polyak_update", recording_polyak_update)
    model.learn(total_timesteps=9 if n_envs == 1 else 10)
    assert updates == expected_steps


def test_target_copies_batch_norm_statistics():
    model = SoftQLearning(
        "MlpPolicy",
        IdentityEnv(2),
        learning_starts=0,
        batch_size=8,
        target_update_interval=1,
        policy_kwargs={"net_arch": [8], "features_extractor_class": LinearBatchNormExtractor},
        seed=0,
    )
    model.learn(total_timesteps=12)
    # the last step trained after the target update: one more step without training updates the target
    model.learning_starts = 10**6
    model.learn(total_timesteps=1, reset_num_timesteps=False)
    online, target = model.q_net.features_extractor.bn, model.q_net_target.features_extractor.bn
    assert not th.equal(online.running_mean, th.zeros(4))
    assert th.equal(target.running_mean, online.running_mean)
    assert th.equal(target.running_var, online.running_var)


@pytest.mark.parametrize("target_update_interval", [2, 4])
def test_no_warning_when_the_target_update_interval_covers_the_envs(target_update_interval):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SoftQLearning(
            "MlpPolicy",
            make_vec_env(IdentityEnv, n_envs=2, env_kwargs={"dim": 2}),
            target_update_interval=target_update_interval,
            policy_kwargs=SMALL,
        )


@pytest.mark.parametrize(("n_envs", "target_update_interval"), [(3, 2), (2, 1)])
def test_warning_when_more_envs_than_the_target_update_interval(n_envs, target_update_interval):
    message = (
        f"The number of environments used is greater than the target network update interval ({n_envs} > "
        f"{target_update_interval}): the target network is updated after every env.step(), i.e. every {n_envs} steps"
    )
    with pytest.warns(UserWarning, match=f"^{re.escape(message)}$"):
        SoftQLearning(
            "MlpPolicy",
            make_vec_env(IdentityEnv, n_envs=n_envs, env_kwargs={"dim": 2}),
            target_update_interval=target_update_interval,
            policy_kwargs=SMALL,
        )


def test_temperature_underflowed_to_zero_stops_training():
    """alpha = 0 keeps the TD loss finite (DQN's target) but its dual loss is -inf: training stops, naming it."""
    model = SoftQLearning("MlpPolicy", IdentityEnv(2), learning_starts=0, batch_size=4, policy_kwargs=SMALL, seed=0)
    model.learn(total_timesteps=4)
    with th.no_grad():
        model.log_ent_coef.fill_(-1e4)
    # log(0) * (entropy 0 - positive target) = +inf
    message = (
        f"ent_coef_loss is inf at gradient step {model._n_updates} (environment step 4): training diverged. Lower the "
        "learning rate, rescale rewards or lower ent_coef; the model was not updated with this step."
    )
    with pytest.raises(DivergenceError, match=f"^{re.escape(message)}$"):
        model.train(gradient_steps=1, batch_size=4)


class _Recorder(BaseCallback):
    created = 0

    def __init__(self, *args, **kwargs):
        super().__init__()
        type(self).created += 1

    def _on_step(self) -> bool:
        return True


def test_learn_defaults(monkeypatch, tmp_path):
    """log every 4 episodes, no progress bar, reset the step count, tensorboard run named SoftQLearning."""
    monkeypatch.setattr("stable_baselines3.common.base_class.ProgressBarCallback", _Recorder)
    model = SoftQLearning(
        "MlpPolicy",
        IdentityEnv(2, ep_length=1),
        learning_starts=100,
        train_freq=1,
        tensorboard_log=str(tmp_path),
        policy_kwargs=SMALL,
    )
    dumps = []
    monkeypatch.setattr(model, "dump_logs", lambda: dumps.append(model._episode_num))
    _Recorder.created = 0
    model.learn(total_timesteps=8)
    assert dumps == [4, 8]
    assert _Recorder.created == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["SoftQLearning_1"]
    model.learn(total_timesteps=3, log_interval=1, reset_num_timesteps=False, progress_bar=True)
    assert model.num_timesteps == 11
    assert dumps == [4, 8, 9, 10, 11]
    assert _Recorder.created == 1
    model.learn(total_timesteps=2)
    assert model.num_timesteps == 2


def test_learning_rate_is_validated():
    with pytest.raises(ValueError, match=r"^learning_rate must be a finite number > 0 or a schedule, got 0\.0$"):
        SoftQLearning("MlpPolicy", IdentityEnv(2), learning_rate=0.0)


def test_an_object_that_is_not_an_environment_is_refused_by_sb3():
    """Without an action space an implementation is chosen, and SB3 says what is wrong with the env."""
    message = (
        "The environment is of type <class 'object'>, not a Gymnasium environment. In this case, we expect OpenAI Gym "
        "to be installed and the environment to be an OpenAI Gym environment."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SoftQLearning("MlpPolicy", object())
