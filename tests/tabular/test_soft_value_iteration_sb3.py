"""SoftValueIteration's contract as an SB3 model: what reaches SB3, which solver runs with which settings, what
learn() does with its arguments, and exactly what it logs."""

import re
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_maxent import SoftValueIteration, TabularMDP
from sb3_maxent.tabular import (
    ConvergenceWarning,
    soft_newton_iteration,
    soft_policy_evaluation,
    soft_policy_iteration,
    soft_value_iteration,
)
from sb3_maxent.tabular import soft_vi as soft_vi_module

SOLUTION_KEYS = {"train/solver", "train/iterations", "train/residual", "train/converged", "train/value_mean", "train/ent_coef"}
ACTING_KEYS = {"time/episodes", "rollout/ep_rew_mean", "rollout/ep_len_mean", "time/fps", "time/total_timesteps"}


class Recorder(Logger):
    """A logger without outputs that keeps every dump: (step, values, excluded output formats)."""

    def __init__(self):
        super().__init__(folder=None, output_formats=[])
        self.dumps = []

    def dump(self, step=0):
        self.dumps.append((step, dict(self.name_to_value), dict(self.name_to_excluded)))
        super().dump(step)


def random_mdp(seed=0, n_states=20, n_actions=3):
    rng = np.random.default_rng(seed)
    return TabularMDP.from_arrays(
        rng.dirichlet(np.ones(n_states), size=(n_states, n_actions)), rng.normal(size=(n_states, n_actions))
    )


def frozen_lake_model(**kwargs):
    """The 4x4 lake without slipping, solved at a low temperature: every episode takes the 6 steps to the goal."""
    env = kwargs.pop("env", None) or gym.make("FrozenLake-v1", is_slippery=False)
    return SoftValueIteration("TabularPolicy", env, ent_coef=1e-3, seed=0, **kwargs)


def recorded(model):
    recorder = Recorder()
    model.set_logger(recorder)
    return recorder.dumps


# Construction ------------------------------------------------------------------------------------------------------


def test_constructor_arguments_reach_the_sb3_model():
    mdp = random_mdp()
    model = SoftValueIteration(mdp=mdp)
    assert model.learning_rate == 0.0  # nothing is learnt by gradient steps
    # the temperature lives in float64 tables: a positive value below float32's range is kept as it is
    assert SoftValueIteration(mdp=mdp, ent_coef=1e-50).ent_coef == 1e-50
    # loading a saved model builds it without an MDP: gamma is kept as given (a float)
    bare = SoftValueIteration(gamma=1, _init_setup_model=False)
    assert bare.gamma == 1.0 and isinstance(bare.gamma, float)
    # the tables live on the device asked for ("meta", a device that every torch build has, besides the CPU)
    on_meta = SoftValueIteration(mdp=mdp, device="meta")
    assert on_meta.device == th.device("meta")
    assert on_meta.policy.q_table.device == th.device("meta") and on_meta.policy.log_policy_table.device == th.device("meta")
    # stats_window_size bounds the episodes the rollout statistics average
    acting = frozen_lake_model(stats_window_size=2).learn(18)
    assert acting.ep_info_buffer.maxlen == 2 and len(acting.ep_info_buffer) == 2 and acting._episode_num == 3


def test_a_non_discrete_action_space_is_refused_by_sb3s_check():
    class BoxActions(gym.Env):
        observation_space = gym.spaces.Discrete(2)
        action_space = gym.spaces.Box(0, 1, (1,))
        P = {s: {0: [(1.0, s, 0.0, False)]} for s in range(2)}

    env = BoxActions()
    message = f"The algorithm only supports {(gym.spaces.Discrete,)} as action spaces but {env.action_space} was provided"
    with pytest.raises(AssertionError, match="^" + re.escape(message) + "$"):
        SoftValueIteration("TabularPolicy", env)


# Solving -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("solver", "reference"),
    [
        ("value_iteration", lambda mdp, *args: soft_value_iteration(mdp, *args)),
        ("newton", lambda mdp, *args: soft_newton_iteration(mdp, *args)),
        ("policy_iteration", lambda mdp, *args: soft_policy_iteration(mdp, *args, evaluation="gmres")),
    ],
)
def test_solve_runs_the_configured_solver_with_the_model_settings(solver, reference):
    mdp, gamma, alpha, tol, max_iter = random_mdp(), 0.9, 0.3, 1e-9, 100_000
    model = SoftValueIteration(mdp=mdp, gamma=gamma, ent_coef=alpha, tol=tol, solver=solver, evaluation="gmres")
    result = model.solve()
    expected = reference(mdp, gamma, alpha, tol, max_iter)
    # exact: the model calls this very function with these very arguments, so every operation is the same
    assert (result.iterations, result.sweeps, result.residual) == (expected.iterations, expected.sweeps, expected.residual)
    np.testing.assert_array_equal(result.q_values, expected.q_values)
    np.testing.assert_array_equal(model.q_values, expected.q_values)


def test_value_iteration_stops_at_the_model_max_iter():
    model = SoftValueIteration(mdp=random_mdp(), gamma=0.9, ent_coef=0.3, solver="value_iteration", max_iter=3)
    with pytest.warns(ConvergenceWarning, match=r"^soft value iteration stopped at max_iter=3 with residual \S+ > tol=1e-08$"):
        model.solve()
    assert (model.iterations, model.converged) == (3, False)


def test_evaluate_policy_table_solves_to_the_model_tolerance():
    mdp, gamma, alpha = random_mdp(), 0.9, 0.3
    uniform = np.full((mdp.n_states, mdp.n_actions), 1 / mdp.n_actions)
    model = SoftValueIteration(mdp=mdp, gamma=gamma, ent_coef=alpha, tol=1e-3)
    result = model.evaluate_policy_table(uniform, method="iterative")
    expected = soft_policy_evaluation(mdp, uniform, gamma, alpha, method="iterative", tol=1e-3)
    # exact: the model runs this very call (same arrays, same tol), so the same floating-point operations
    assert (result.sweeps, result.residual) == (expected.sweeps, expected.residual)
    np.testing.assert_array_equal(result.values, expected.values)
    # (the evaluation's own default tolerance, 1e-10, would need more sweeps)
    assert soft_policy_evaluation(mdp, uniform, gamma, alpha, method="iterative").sweeps > result.sweeps


# learn() -----------------------------------------------------------------------------------------------------------


def test_learn_without_an_env_records_the_solution_once_at_step_zero():
    model = SoftValueIteration(mdp=random_mdp(), gamma=0.9, ent_coef=0.3)
    dumps = recorded(model)
    model.learn(total_timesteps=50)  # no environment to act in: the steps are not taken
    assert model.num_timesteps == 0
    [(step, values, excluded)] = dumps
    assert step == 0
    assert values == {
        "train/solver": "newton",
        "train/iterations": model.iterations,
        "train/residual": model.residual,
        "train/converged": 1,
        "train/value_mean": float(np.mean(model.values)),
        "train/ent_coef": 0.3,
    }
    assert excluded["train/solver"] == ("tensorboard",)  # a string: not a TensorBoard scalar


def test_learn_with_an_env_acts_for_exactly_the_steps_asked():
    model = frozen_lake_model()
    dumps = recorded(model)
    model.learn()  # by default: solve, record the solution, take no step
    assert model.num_timesteps == 0
    model.learn(0)
    assert [(step, set(values)) for step, values, _ in dumps] == [(0, SOLUTION_KEYS), (0, SOLUTION_KEYS)]
    model.learn(1)
    assert model.num_timesteps == 1


def test_acting_dumps_the_rollout_statistics_every_episode_by_default():
    model = frozen_lake_model()
    dumps = recorded(model)
    model.learn(12)
    assert [step for step, _, _ in dumps] == [6, 12]
    (_, first, excluded), (_, second, _) = dumps
    # the solution is recorded before acting and goes out with the first episode's statistics
    assert set(first) == SOLUTION_KEYS | ACTING_KEYS and set(second) == ACTING_KEYS
    assert (first["time/episodes"], first["rollout/ep_rew_mean"], first["rollout/ep_len_mean"]) == (1, 1.0, 6.0)
    assert (first["time/total_timesteps"], second["time/total_timesteps"], second["time/episodes"]) == (6, 12, 2)
    assert excluded["time/episodes"] == excluded["time/total_timesteps"] == ("tensorboard",)
    # log_interval = 0: no rollout logs at all
    model.learn(12, log_interval=0)
    assert len(dumps) == 2 and model._episode_num == 2


def test_fps_is_the_steps_of_this_call_over_the_elapsed_seconds(monkeypatch):
    model = frozen_lake_model()
    dumps = recorded(model)
    clock = {"elapsed_ns": 250_000_000}
    monkeypatch.setattr(soft_vi_module, "time", SimpleNamespace(time_ns=lambda: model.start_time + clock["elapsed_ns"]))
    model.learn(6)
    assert dumps[-1][1]["time/fps"] == 24  # 6 steps in a quarter of a second
    # a second call that keeps counting: only its own 6 steps count, over 3 s and 1 ns (just under 2 a second)
    clock["elapsed_ns"] = 3_000_000_001
    model.learn(6, reset_num_timesteps=False)
    assert dumps[-1][1]["time/total_timesteps"] == 12 and dumps[-1][1]["time/fps"] == 1


def test_without_a_monitor_no_rollout_statistics_are_logged():
    # a VecEnv passed as is gets no Monitor from SB3: no episode statistics to average, so none is logged
    env = DummyVecEnv([lambda: gym.make("FrozenLake-v1", is_slippery=False)])
    model = frozen_lake_model(env=env)
    dumps = recorded(model)
    model.learn(12)
    timing = {"time/episodes", "time/fps", "time/total_timesteps"}
    assert [(step, set(values)) for step, values, _ in dumps] == [(6, SOLUTION_KEYS | timing), (12, timing)]


def test_success_flags_are_kept_at_the_end_of_episodes():
    class Success(gym.Wrapper):
        def step(self, action):
            observation, reward, terminated, truncated, info = self.env.step(action)
            return observation, reward, terminated, truncated, {**info, "is_success": bool(reward > 0)}

    model = frozen_lake_model(env=Success(gym.make("FrozenLake-v1", is_slippery=False)))
    model.learn(12)
    assert list(model.ep_success_buffer) == [True, True]  # one per episode, not one per step


def test_learn_resets_the_step_count_unless_asked_not_to():
    model = frozen_lake_model()
    model.learn(6)
    model.learn(6)
    assert model.num_timesteps == 6
    model.learn(6, reset_num_timesteps=False)
    assert model.num_timesteps == 12


def test_tensorboard_runs_are_named_after_the_algorithm_and_continued(tmp_path):
    model = frozen_lake_model(tensorboard_log=str(tmp_path / "acting"))
    model.learn(6)
    assert [path.name for path in (tmp_path / "acting").iterdir()] == ["SoftValueIteration_1"]
    model.learn(6, reset_num_timesteps=False)  # the same run goes on
    assert [path.name for path in (tmp_path / "acting").iterdir()] == ["SoftValueIteration_1"]
    solving = SoftValueIteration(mdp=random_mdp(), tensorboard_log=str(tmp_path / "solving"))
    solving.learn()
    solving.learn(reset_num_timesteps=False)
    assert [path.name for path in (tmp_path / "solving").iterdir()] == ["SoftValueIteration_1"]


@pytest.mark.filterwarnings("ignore:rich is experimental/alpha")
def test_the_progress_bar_is_shown_only_when_asked(capsys):
    model = frozen_lake_model()
    model.learn(6)
    assert capsys.readouterr().out == ""
    model.learn(6, progress_bar=True)
    assert re.search(r"\b6/6\b", capsys.readouterr().out)


def test_callbacks_see_the_learn_scope_and_can_stop_acting():
    class StopAfterThree(BaseCallback):
        def _on_training_start(self):
            self.seen_globals = self.globals

        def _on_step(self):
            return self.n_calls < 3

        def _on_training_end(self):
            self.ended = True

    model = frozen_lake_model()
    callback = StopAfterThree()
    assert model.learn(100, callback=callback) is model
    assert model.num_timesteps == 3 and callback.ended
    assert callback.seen_globals is vars(soft_vi_module)  # learn()'s globals(), as SB3's algorithms pass them


@pytest.mark.parametrize(("ent_coef", "shown"), [("-0.5", "-0.5"), (np.float64(-1.0), "-1.0")])
def test_a_refused_temperature_keeps_the_parsers_message_with_the_number_read(ent_coef, shown):
    # parse_fixed_ent_coef's own error names ent_coef and the number it read, and is passed on as it is (not
    # replaced by the generic message, which would show the argument's repr: '-0.5', np.float64(-1.0))
    mdp = TabularMDP.random(3, 2, n_successors=2, seed=0)
    message = rf"^ent_coef \(the temperature alpha\) must be a finite number >= 0, got {re.escape(shown)}$"
    with pytest.raises(ValueError, match=message):
        SoftValueIteration(mdp=mdp, ent_coef=ent_coef)
