"""SoftValueIteration as an SB3 model: MDP construction, toy-text environments, bad input, save/load."""

import gymnasium as gym
import numpy as np
import pytest
import scipy.sparse as sp
import torch as th
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_maxent import SoftValueIteration, TabularMDP
from sb3_maxent.tabular import ConvergenceWarning, soft_value_iteration


def dense_model_of(env):
    """P[s, a, s'] (continuation only), r(s, a) from a toy-text model, by plain loops."""
    model = env.unwrapped.P
    n_states, n_actions = env.observation_space.n, env.action_space.n
    transitions = np.zeros((n_states, n_actions, n_states))
    rewards = np.zeros((n_states, n_actions))
    for s in range(n_states):
        for a in range(n_actions):
            for p, s_next, r, done in model[s][a]:
                rewards[s, a] += p * r
                if not done:
                    transitions[s, a, s_next] += p
    return transitions, rewards


@pytest.mark.parametrize(
    "make_env",
    [
        lambda: gym.make("FrozenLake-v1", is_slippery=True),
        lambda: gym.make("FrozenLake-v1", is_slippery=False),
        lambda: gym.make("FrozenLake8x8-v1"),
        lambda: gym.make("Taxi-v4"),
        lambda: gym.make("CliffWalking-v1"),
    ],
)
def test_toy_text_conversion_matches_a_dense_reference(make_env):
    env = make_env()
    mdp = TabularMDP.from_env(env)
    transitions, rewards = dense_model_of(env)
    np.testing.assert_allclose(mdp.transitions.toarray(), transitions.reshape(-1, env.observation_space.n))
    np.testing.assert_allclose(mdp.rewards, rewards)
    # dense soft value iteration on the reference arrays gives the same Q*
    q_values = np.zeros_like(rewards)
    alpha, gamma = 0.1, 0.9
    for _ in range(400):
        v = alpha * np.log(np.exp((q_values - q_values.max(1, keepdims=True)) / alpha).sum(1)) + q_values.max(1)
        q_values = rewards + gamma * transitions @ v
    np.testing.assert_allclose(soft_value_iteration(mdp, gamma, alpha, tol=1e-12).q_values, q_values, atol=1e-9)


def test_frozen_lake_small_temperature_reaches_the_goal():
    env = gym.make("FrozenLake-v1", is_slippery=False)
    model = SoftValueIteration("TabularPolicy", env, ent_coef=1e-3, gamma=0.99, seed=0).learn()
    for deterministic in [True, False]:
        mean_return, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=20, deterministic=deterministic)
        assert mean_return >= 0.95


def test_entropy_bonus_can_outweigh_the_goal():
    # alpha log 4 / (1 - gamma) > 1: the soft-optimal agent prefers wandering (a property of max-ent RL)
    env = gym.make("FrozenLake-v1", is_slippery=False)
    model = SoftValueIteration("TabularPolicy", env, ent_coef=0.05, gamma=0.99, seed=0).learn()
    mean_return, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=10, deterministic=False)
    assert mean_return < 0.5


def test_predict_is_batched_over_a_vec_env_and_samples_the_boltzmann_policy():
    vec_env = make_vec_env("FrozenLake-v1", n_envs=4, seed=0, env_kwargs={"is_slippery": True})
    model = SoftValueIteration("MlpPolicy", vec_env, ent_coef=0.5, seed=0).learn()
    observations = vec_env.reset()
    actions, state = model.predict(observations)
    assert actions.shape == (4,) and state is None
    # sampled actions follow pi*(.|s)
    many = np.array([model.predict(np.zeros(2000, dtype=np.int64))[0]]).ravel()
    frequencies = np.bincount(many, minlength=4) / many.size
    np.testing.assert_allclose(frequencies, model.action_probabilities[0], atol=0.04)
    greedy, _ = model.predict(np.arange(16), deterministic=True)
    np.testing.assert_array_equal(greedy, model.q_values.argmax(axis=1))
    assert np.all(np.isfinite(model.values))


def test_learn_runs_callbacks_on_every_step(tmp_path):
    env = gym.make("FrozenLake-v1", is_slippery=False)
    eval_callback = EvalCallback(
        gym.make("FrozenLake-v1", is_slippery=False), eval_freq=50, n_eval_episodes=2, log_path=str(tmp_path)
    )
    model = SoftValueIteration("TabularPolicy", env, ent_coef=1e-3, seed=0)
    model.learn(200, callback=eval_callback, progress_bar=True)
    assert model.num_timesteps == 200
    assert eval_callback.n_calls == 200
    assert eval_callback.last_mean_reward == 1.0


@pytest.mark.parametrize("solver", ["value_iteration", "policy_iteration"])
def test_save_load_is_exact(tmp_path, solver):
    model = SoftValueIteration("TabularPolicy", gym.make("Taxi-v4"), ent_coef=0.3, solver=solver, seed=0).learn()
    model.save(tmp_path / "model.zip")
    loaded = SoftValueIteration.load(tmp_path / "model.zip")
    np.testing.assert_array_equal(loaded.q_values, model.q_values)
    np.testing.assert_array_equal(loaded.values, model.values)
    np.testing.assert_array_equal(loaded.action_probabilities, model.action_probabilities)
    assert (loaded.gamma, loaded.ent_coef, loaded.iterations, loaded.residual) == (
        model.gamma,
        model.ent_coef,
        model.iterations,
        model.residual,
    )
    observations = np.arange(500)
    np.testing.assert_array_equal(
        loaded.predict(observations, deterministic=True)[0], model.predict(observations, deterministic=True)[0]
    )


def test_hard_value_iteration_at_zero_temperature_saves_minus_infinity_log_probs(tmp_path):
    model = SoftValueIteration("TabularPolicy", gym.make("CliffWalking-v1"), ent_coef=0.0, gamma=1.0).learn()
    assert model.values[36] == pytest.approx(-13.0)  # 13 steps from the start, -1 each
    model.save(tmp_path / "model.zip")
    np.testing.assert_array_equal(
        SoftValueIteration.load(tmp_path / "model.zip").action_probabilities, model.action_probabilities
    )


def test_solvers_on_a_million_state_mdp_stay_sparse():
    mdp = TabularMDP.random(10**6, 2, 2, seed=0)
    assert mdp.transitions.nnz == 4 * 10**6
    result = soft_value_iteration(mdp, 0.5, 1.0, tol=1e-6)
    assert result.converged and result.q_values.shape == (10**6, 2)


def test_rewards_per_transition_and_terminal_states():
    transitions = np.zeros((3, 2, 3))
    transitions[0, 0] = [0.0, 0.5, 0.5]
    transitions[0, 1] = [1.0, 0.0, 0.0]
    transitions[1, :, 2] = 1.0
    transitions[2, :, 2] = 1.0
    rewards = np.zeros((3, 2, 3))
    rewards[0, 0, 1], rewards[0, 0, 2] = 4.0, 2.0
    mdp = TabularMDP.from_arrays(transitions, rewards, terminal_states=[2])
    assert mdp.rewards[0, 0] == pytest.approx(3.0)
    # arriving in state 2 ends the episode: no continuation mass towards it
    np.testing.assert_allclose(mdp.termination_probabilities[0, 0], 0.5)
    np.testing.assert_allclose(mdp.termination_probabilities[1], 1.0)
    mdp.check_proper()
    same = TabularMDP.from_arrays(
        sp.csr_matrix(transitions.reshape(6, 3)), rewards, terminal_states=np.array([False, False, True])
    )
    np.testing.assert_array_equal(same.transitions.toarray(), mdp.transitions.toarray())
    model = SoftValueIteration(mdp=mdp, gamma=1.0, ent_coef=0.0).learn()
    assert model.values[0] == pytest.approx(3.0)


def test_max_iter_warns():
    mdp = TabularMDP.random(50, 3, 3, seed=0)
    with pytest.warns(ConvergenceWarning, match="max_iter=5"):
        model = SoftValueIteration(mdp=mdp, gamma=0.99, max_iter=5).learn()
    assert not model.converged and model.iterations == 5


# Bad input -----------------------------------------------------------------------------------------


def valid_arrays():
    transitions = np.full((2, 2, 2), 0.5)
    rewards = np.zeros((2, 2))
    return transitions, rewards


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p, r: (p * np.array([[[-1, 2]]]), r), "must be >= 0"),
        (lambda p, r: (p * 0.9, r), "sums to 0.9"),
        (lambda p, r: (p * 1.1, r), "sums to 1.1"),
        (lambda p, r: (p * np.array([[[1.0, 1.2]]]), r), "sums to 1.1"),
        (lambda p, r: (p[:, :, :1], r), "shape"),
        (lambda p, r: (p, np.zeros((2, 3))), "rewards must have shape"),
        (lambda p, r: (p, np.array([[0.0, np.nan], [0.0, 0.0]])), "finite"),
        (lambda p, r: (p, np.array([[0.0, np.inf], [0.0, 0.0]])), "finite"),
        (lambda p, r: (np.where(p > 0, np.nan, p), r), "NaN"),
    ],
)
def test_malformed_mdp_is_refused(mutate, message):
    transitions, rewards = mutate(*valid_arrays())
    with pytest.raises(ValueError, match=message):
        TabularMDP.from_arrays(transitions, rewards)


@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        ([(0.6, 0, 0.0, False), (0.6, 1, 0.0, False)], "sums to 1.2"),
        ([(0.6, 0, 0.0, False), (0.6, 1, 0.0, True)], "sums to 1.2"),
        ([(0.5, 0, 0.0, False)], "sums to 0.5"),
        ([(1.5, 0, 0.0, False), (-0.5, 1, 0.0, False)], ">= 0"),
    ],
)
def test_malformed_env_model_is_refused(outcomes, message):
    # a toy-text model P[s][a] = [(p, s', r, done), ...]; a terminal outcome counts towards the row's mass too
    model = {s: {a: [(1.0, 1, 0.0, False)] for a in range(2)} for s in range(2)}
    model[1][0] = outcomes
    with pytest.raises(ValueError, match=message):
        TabularMDP._from_model(model, n_states=2, n_actions=2, atol=1e-8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gamma": 1.5}, "gamma"),
        ({"gamma": -0.1}, "gamma"),
        ({"gamma": 1.0}, "every episode to end"),
        ({"ent_coef": -0.1}, "ent_coef"),
        ({"tol": 0.0}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"solver": "q_learning"}, "solver"),
        ({"evaluation": "magic"}, "evaluation"),
    ],
)
def test_invalid_hyperparameters(kwargs, message):
    mdp = TabularMDP.from_arrays(*valid_arrays())
    with pytest.raises(ValueError, match=message):
        SoftValueIteration(mdp=mdp, **kwargs)


def test_environment_without_a_model_is_refused():
    with pytest.raises(ValueError, match="exposes no transition model"):
        SoftValueIteration("TabularPolicy", gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="needs a known MDP"):
        SoftValueIteration("TabularPolicy")


def test_policy_of_the_wrong_shape_is_refused():
    from sb3_maxent.tabular import soft_policy_evaluation

    mdp = TabularMDP.from_arrays(*valid_arrays())
    with pytest.raises(ValueError, match="policy must have shape"):
        soft_policy_evaluation(mdp, np.ones((3, 2)) / 2, 0.9, 0.1)
    with pytest.raises(ValueError, match="sum to 1"):
        soft_policy_evaluation(mdp, np.ones((2, 2)), 0.9, 0.1)


def test_evaluating_the_optimal_policy_gives_back_its_values():
    model = SoftValueIteration("TabularPolicy", gym.make("FrozenLake-v1"), ent_coef=0.2, gamma=0.95, tol=1e-12).learn()
    for method in ["direct", "gmres", "iterative"]:
        evaluated = model.evaluate_policy_table(model.action_probabilities, method=method)
        np.testing.assert_allclose(evaluated.values, model.values, atol=1e-8)
    uniform = model.evaluate_policy_table(np.full((16, 4), 0.25))
    assert np.all(uniform.values <= model.values + 1e-10)


def test_refusals_name_the_environment():
    with pytest.raises(ValueError, match=r"^CartPole-v1 exposes no transition model"):
        SoftValueIteration("TabularPolicy", gym.make("CartPole-v1"))

    class NoModel(gym.Env):
        observation_space = gym.spaces.Discrete(2)
        action_space = gym.spaces.Discrete(2)

    with pytest.raises(ValueError, match=r"^NoModel exposes no transition model"):
        SoftValueIteration("TabularPolicy", NoModel())


def _random_mdp(seed=0, n_states=30, n_actions=3):
    rng = np.random.default_rng(seed)
    return TabularMDP.from_arrays(
        rng.dirichlet(np.ones(n_states), size=(n_states, n_actions)), rng.normal(size=(n_states, n_actions))
    )


def _optimality_residual(mdp, q_values, gamma, alpha):
    from sb3_maxent.tabular import soft_bellman_backup

    return float(np.max(np.abs(soft_bellman_backup(mdp, q_values, gamma, alpha) - q_values)))


@pytest.mark.parametrize("evaluation", ["direct", "gmres", "iterative"])
@pytest.mark.parametrize("tol", [1e-3, 1e-9])
def test_policy_iteration_meets_its_tolerance_and_counts_its_work(evaluation, tol):
    from sb3_maxent.tabular import soft_policy_iteration

    mdp, gamma, alpha = _random_mdp(), 0.9, 0.3
    result = soft_policy_iteration(mdp, gamma, alpha, tol=tol, evaluation=evaluation, keep_history=True)
    # the reported residual is the soft Bellman optimality residual of the returned Q, at most tol
    assert result.converged and result.residual == pytest.approx(_optimality_residual(mdp, result.q_values, gamma, alpha))
    assert result.residual <= tol
    # one evaluated policy per improvement step, each followed by one backup (the residual check)
    assert result.iterations == len(result.history) >= 2
    np.testing.assert_array_equal(result.history[-1], result.q_values)
    if evaluation == "direct":
        assert result.sweeps == result.iterations  # a sparse LU solve has no mat-vec sweeps
    else:
        assert result.sweeps > 2 * result.iterations  # every evaluation iterates
    assert not soft_policy_iteration(mdp, gamma, alpha, tol=tol, evaluation=evaluation).history


def test_policy_iteration_starts_from_the_given_policy_and_stops_at_max_iter():
    from sb3_maxent.common.soft_bellman import soft_greedy_policy
    from sb3_maxent.tabular import soft_policy_evaluation, soft_policy_iteration

    mdp, gamma, alpha = _random_mdp(1), 0.9, 0.3
    optimum = soft_policy_iteration(mdp, gamma, alpha, tol=1e-10)
    # from the optimal policy, the first evaluation already satisfies the optimality equation
    warm = soft_policy_iteration(mdp, gamma, alpha, tol=1e-8, policy_init=soft_greedy_policy(optimum.q_values, alpha))
    assert warm.iterations == 1 and warm.converged
    # max_iter = 1 from the uniform policy: exactly its evaluation, not converged, with a warning
    with pytest.warns(ConvergenceWarning):
        one_step = soft_policy_iteration(mdp, gamma, alpha, tol=1e-10, max_iter=1)
    uniform = np.full((mdp.n_states, mdp.n_actions), 1 / mdp.n_actions)
    np.testing.assert_allclose(one_step.q_values, soft_policy_evaluation(mdp, uniform, gamma, alpha).q_values, atol=1e-9)
    assert one_step.iterations == 1 and not one_step.converged and one_step.residual > 1e-10
    # the default tolerance is 1e-8
    assert soft_policy_iteration(mdp, gamma, alpha).residual <= 1e-8 < one_step.residual


def test_acting_logs_the_rollout_statistics():
    from stable_baselines3.common.logger import Logger

    class Recorder(Logger):
        def __init__(self):
            super().__init__(folder=None, output_formats=[])
            self.dumps = []

        def dump(self, step=0):
            self.dumps.append((step, dict(self.name_to_value)))
            super().dump(step)

    env = gym.make("FrozenLake-v1", is_slippery=False)
    model = SoftValueIteration("TabularPolicy", env, ent_coef=1e-3, seed=0)
    recorder = Recorder()
    model.set_logger(recorder)
    model.learn(60, log_interval=2)
    # a dump every 2 episodes (the solved, nearly greedy policy needs 6 steps an episode); the first also carries
    # the solve's statistics
    _, solved = recorder.dumps[0]
    assert solved["train/converged"] == 1 and solved["train/iterations"] == model.iterations
    assert solved["train/ent_coef"] == 1e-3 and solved["train/residual"] == model.residual
    acting = recorder.dumps
    assert len(acting) == model._episode_num // 2 >= 3
    for step, values in acting:
        assert values["time/total_timesteps"] == step and values["time/episodes"] % 2 == 0
        assert values["rollout/ep_rew_mean"] == 1.0 and values["rollout/ep_len_mean"] == 6.0
        assert values["time/fps"] > 0


def _dense_soft_evaluation(transitions, rewards, policy, gamma, alpha):
    """V^pi from the dense linear system (I - gamma P_pi) V = r_pi + alpha H(pi), with 0 log 0 = 0."""
    log_policy = np.log(policy, out=np.zeros_like(policy), where=policy > 0)
    soft_rewards = (policy * (rewards - alpha * log_policy)).sum(axis=1)
    p_pi = np.einsum("sa,sat->st", policy, transitions)
    values = np.linalg.solve(np.eye(len(rewards)) - gamma * p_pi, soft_rewards)
    return rewards + gamma * transitions @ values, values


@pytest.mark.parametrize("method", ["direct", "gmres", "iterative"])
@pytest.mark.parametrize("policy_kind", ["stochastic", "deterministic"])
def test_soft_policy_evaluation_against_a_dense_solve(method, policy_kind):
    from sb3_maxent.tabular import soft_policy_evaluation

    rng = np.random.default_rng(3)
    n_states, n_actions, gamma, alpha = 12, 3, 0.8, 0.7
    transitions = rng.dirichlet(np.ones(n_states), size=(n_states, n_actions))
    rewards = rng.normal(size=(n_states, n_actions))
    if policy_kind == "stochastic":
        policy = rng.dirichlet(np.ones(n_actions), size=n_states)
    else:  # zeros in the policy: their log-probabilities must not enter the entropy
        policy = np.eye(n_actions)[rng.integers(n_actions, size=n_states)]
    expected_q, expected_v = _dense_soft_evaluation(transitions, rewards, policy, gamma, alpha)
    mdp = TabularMDP.from_arrays(transitions, rewards)
    result = soft_policy_evaluation(mdp, policy, gamma, alpha, method=method, tol=1e-11)
    np.testing.assert_allclose(result.values, expected_v, atol=1e-8)
    np.testing.assert_allclose(result.q_values, expected_q, atol=1e-8)
    # the residual is that of the evaluation equation V = sum_a pi (Q - alpha log pi), Q = r + gamma P V
    log_policy = np.log(policy, out=np.zeros_like(policy), where=policy > 0)
    implied = (policy * (result.q_values - alpha * log_policy)).sum(axis=1)
    # the same sum of A = 3 products as the solver's, but rounded differently (log by another ufunc path): each
    # recursive sum is within (A + 1) u sum|terms| of exact (Higham, thm 3.1; u = 2^-53), the subtraction adds u|V|,
    # so the two residuals differ by at most 2 (A + 2) u (max|pi (Q - alpha log pi)| summed + max|V|), ~1e-14 here;
    # a residual of another equation (no entropy term, the optimality residual) is off by O(alpha log A) = O(1)
    unit_roundoff = np.finfo(float).eps / 2
    terms = (np.abs(policy * (result.q_values - alpha * log_policy))).sum(axis=1)
    rounding = 2 * (n_actions + 2) * unit_roundoff * (np.max(terms) + np.max(np.abs(result.values)))
    assert result.residual == pytest.approx(np.max(np.abs(implied - result.values)), abs=rounding)
    assert result.converged and result.residual <= 1e-9
    # work: one LU solve; or one mat-vec per sweep / GMRES iteration
    if method == "direct":
        assert (result.iterations, result.sweeps) == (1, 0)
    else:
        assert result.iterations == result.sweeps > 5
    if method == "iterative":
        # the sweeps stop at the first change <= tol: gamma^k contraction, so about log(tol) / log(gamma) of them
        values, changes = np.zeros(n_states), []
        p_pi = np.einsum("sa,sat->st", policy, transitions)
        soft_rewards = (policy * (rewards - alpha * log_policy)).sum(axis=1)
        while not changes or changes[-1] > 1e-11:
            new_values = soft_rewards + gamma * p_pi @ values
            changes.append(np.max(np.abs(new_values - values)))
            values = new_values
        # these sweeps round differently from the solver's (dense P_pi, another soft-reward formula): each sweep adds
        # at most (S + A + 4) u max|V| (Higham, ch. 3) and the gamma-contraction keeps the sum under that over
        # (1 - gamma), so the two runs' changes differ by at most twice it (~2e-13 here). The count is exact only if
        # neither the stopping change nor the one before lies within that of tol: asserted, so a seed that puts a
        # change on the boundary fails here, not by chance; an off-by-one stop is then always caught
        unit_roundoff = np.finfo(float).eps / 2
        drift = 2 * (n_states + n_actions + 4) * unit_roundoff * np.max(np.abs(values)) / (1 - gamma)
        assert changes[-1] < 1e-11 - drift and changes[-2] > 1e-11 + drift
        assert result.sweeps == len(changes)


def test_soft_policy_evaluation_stops_at_max_iter_and_says_so():
    from sb3_maxent.tabular import soft_policy_evaluation

    mdp = _random_mdp(2)
    uniform = np.full((mdp.n_states, mdp.n_actions), 1 / mdp.n_actions)
    short = soft_policy_evaluation(mdp, uniform, 0.99, 0.5, method="iterative", max_iter=5)
    assert short.iterations == short.sweeps == 5 and not short.converged
    with pytest.warns(ConvergenceWarning, match=r"^GMRES policy evaluation stopped after \d+ iterations \(info=\d+\)$"):
        stopped = soft_policy_evaluation(mdp, uniform, 0.99, 0.5, method="gmres", tol=1e-30, max_iter=1)
    # (converged still reports the evaluation equation's residual, at float64's precision, not GMRES's own goal)
    assert stopped.sweeps >= 1
    # the default tolerance, 1e-10
    assert soft_policy_evaluation(mdp, uniform, 0.99, 0.5, method="iterative").residual <= 1e-9


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (lambda p: -p, r"^policy probabilities must be finite and >= 0$"),
        (lambda p: np.where(p > 0.3, np.nan, p), r"^policy probabilities must be finite and >= 0$"),
        (lambda p: p * 1.01, r"^each row of the policy must sum to 1$"),
        (lambda p: p[:, :2], r"^policy must have shape \(n_states, n_actions\) = \(30, 3\), got \(30, 2\)$"),
    ],
)
def test_malformed_policies_are_refused(policy, message):
    from sb3_maxent.tabular import soft_policy_evaluation

    mdp = _random_mdp()
    uniform = np.full((mdp.n_states, mdp.n_actions), 1 / mdp.n_actions)
    with pytest.raises(ValueError, match=message):
        soft_policy_evaluation(mdp, policy(uniform), 0.9, 0.5)
    with pytest.raises(ValueError, match=r"^method must be 'direct', 'gmres' or 'iterative', got 'lu'$"):
        soft_policy_evaluation(mdp, uniform, 0.9, 0.5, method="lu")
    # a deterministic policy (zeros allowed) and rows within 1e-8 of 1 are accepted
    soft_policy_evaluation(mdp, np.eye(3)[np.zeros(30, dtype=int)], 0.9, 0.5)
    soft_policy_evaluation(mdp, uniform * (1 + 5e-9), 0.9, 0.5)


def _chain_mdp(outcomes_by_state):
    """One action; ``outcomes_by_state[s] = [(p, s', done), ...]``, as a toy-text model."""
    model = {s: {0: [(p, s_next, 0.0, done) for p, s_next, done in outcomes]} for s, outcomes in enumerate(outcomes_by_state)}
    return TabularMDP._from_model(model, n_states=len(outcomes_by_state), n_actions=1, atol=1e-8)


def test_gamma_one_needs_every_state_to_reach_termination():
    # 0 -> 1 -> 2 -> end; state 3 loops on itself and state 4 moves to 3: both trapped
    trapped = [[(1.0, 1, False)], [(1.0, 2, False)], [(1.0, 0, True)], [(1.0, 3, False)], [(1.0, 3, False)]]
    with pytest.raises(
        ValueError,
        match=r"^gamma = 1 needs every episode to end, but from state 3 \(2 states in all\) no terminal transition can be "
        r"reached; use gamma < 1 or mark terminal states$",
    ):
        _chain_mdp(trapped).check_proper()
    # edges count in their direction: 3 -> 0 reaches the end, while 4 only receives from... nobody, and leaks
    proper = [
        [(1.0, 1, False)],
        [(1.0, 2, False)],
        [(1.0, 0, True)],
        [(1.0, 0, False)],
        [(1 - 1e-6, 4, False), (1e-6, 0, True)],
    ]
    _chain_mdp(proper).check_proper()
    # states that only the trapped ones lead to are not saved by it: 0 -> 3, 3 loops; 1 -> 0
    one_way = [[(1.0, 3, False)], [(1.0, 0, False)], [(1.0, 0, True)], [(1.0, 3, False)], [(1.0, 2, False)]]
    with pytest.raises(ValueError, match=r"from state 0 \(3 states in all\)"):
        _chain_mdp(one_way).check_proper()
    # a leak to termination within the tolerance of the row sums counts as no leak
    tiny_leak = [[(1.0, 0, True)], [(1 - 5e-9, 1, False), (5e-9, 0, True)]]
    with pytest.raises(ValueError, match=r"from state 1 \(1 states in all\)"):
        _chain_mdp(tiny_leak).check_proper()


def test_tabular_policy_tables_and_sampling():
    from sb3_maxent.tabular.policies import TabularSoftPolicy

    policy = TabularSoftPolicy(gym.spaces.Discrete(2), gym.spaces.Discrete(3))
    # before a solve: Q = 0 and the uniform policy
    assert th_equal(policy.q_table, np.zeros((2, 3))) and policy.q_table.dtype == th.float64
    np.testing.assert_allclose(policy.log_policy_table.numpy(), np.log(np.full((2, 3), 1 / 3)))
    q_values = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    policy.set_q_values(q_values, ent_coef=0.5)
    np.testing.assert_array_equal(policy.q_table.numpy(), q_values)
    expected = np.exp(q_values / 0.5) / np.exp(q_values / 0.5).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.exp(policy.log_policy_table.numpy()), expected, atol=1e-12)
    states = th.tensor([0] * 4000 + [1] * 4000)
    th.manual_seed(0)
    sampled = policy(states).numpy()  # forward samples, as predict(deterministic=False)
    for state in (0, 1):
        frequencies = np.bincount(sampled[states.numpy() == state], minlength=3) / 4000
        np.testing.assert_allclose(frequencies, expected[state], atol=0.03)
    np.testing.assert_array_equal(policy(states[[0, -1]], deterministic=True).numpy(), [1, 2])
    with pytest.raises(ValueError, match=r"^a tabular policy needs Discrete observation and action spaces, got Box"):
        TabularSoftPolicy(gym.spaces.Box(0, 1, (1,)), gym.spaces.Discrete(3))
    with pytest.raises(ValueError, match=r"got Discrete\(2\) and Box"):
        TabularSoftPolicy(gym.spaces.Discrete(2), gym.spaces.Box(0, 1, (1,)))


def th_equal(tensor, array):
    return np.array_equal(tensor.numpy(), array)


def test_the_model_api_around_the_solvers(tmp_path):
    from sb3_maxent.tabular.policies import TabularSoftPolicy

    mdp = _random_mdp(4)
    model = SoftValueIteration(mdp=mdp, gamma=0.9, ent_coef=0.4, solver="policy_iteration", evaluation="iterative", tol=1e-9)
    assert (model.observation_space, model.action_space, model.n_envs) == (gym.spaces.Discrete(30), gym.spaces.Discrete(3), 1)
    first = model.solve()
    assert model.solver_result is first and model._n_updates == first.iterations
    assert first.sweeps > 2 * first.iterations  # the configured evaluation ("iterative") was used
    model.solve()
    assert model._n_updates == 2 * first.iterations  # updates accumulate over solves
    # evaluate_policy_table honours its method, at the model's gamma, ent_coef and tol
    uniform = np.full((30, 3), 1 / 3)
    direct, gmres = model.evaluate_policy_table(uniform), model.evaluate_policy_table(uniform, method="gmres")
    assert direct.sweeps == 0 < gmres.sweeps and direct.residual <= 1e-9 and gmres.residual <= 1e-9
    np.testing.assert_allclose(gmres.values, direct.values, atol=1e-7)

    # loaded without an environment: no MDP to solve or evaluate on, said in a sentence
    model.save(tmp_path / "model.zip")
    loaded = SoftValueIteration.load(tmp_path / "model.zip")
    with pytest.raises(ValueError, match=r"^no MDP to solve: this model was loaded without an environment exposing `P`$"):
        loaded.solve()
    with pytest.raises(ValueError, match=r"^no MDP: this model was loaded without an environment exposing `P`$"):
        loaded.evaluate_policy_table(uniform)

    # policy_kwargs reach the policy; a policy class of another kind is refused by name
    class Squeezed(TabularSoftPolicy):
        def __init__(self, observation_space, action_space, note="", **kwargs):
            super().__init__(observation_space, action_space, **kwargs)
            self.note = note

    assert SoftValueIteration(Squeezed, mdp=mdp, policy_kwargs={"note": "kept"}).policy.note == "kept"
    with pytest.raises(
        TypeError,
        match=r"^SoftValueIteration cannot use the policy sb3_maxent\.sql\.policies\.DiscreteSoftQPolicy: "
        r"it belongs to sb3_maxent\.SoftQLearning",
    ):
        from sb3_maxent.sql.policies import DiscreteSoftQPolicy

        SoftValueIteration(DiscreteSoftQPolicy, mdp=mdp)
    # an MDP that does not fit the environment's spaces
    with pytest.raises(
        ValueError,
        match=r"^the MDP has 30 states and 3 actions but the environment's spaces are Discrete\(16\) and Discrete\(4\)$",
    ):
        SoftValueIteration("TabularPolicy", gym.make("FrozenLake-v1"), mdp=mdp)


def test_acting_is_reproducible_with_a_seed():
    def episode_actions(seed):
        model = SoftValueIteration("TabularPolicy", gym.make("FrozenLake-v1"), ent_coef=0.5, seed=seed).learn()
        return model.predict(np.arange(16).repeat(20), deterministic=False)[0]

    np.testing.assert_array_equal(episode_actions(3), episode_actions(3))
    assert not np.array_equal(episode_actions(3), episode_actions(4))


def test_model_defaults_and_state_before_solving():
    model = SoftValueIteration(mdp=_random_mdp(5))
    assert (model.ent_coef, model.gamma, model.tol, model.max_iter) == (1e-3, 0.99, 1e-8, 100_000)
    assert (model.solver, model.evaluation, model.verbose, model._stats_window_size) == ("auto", "direct", 0, 100)
    assert model.solver_used is None
    assert (model.residual, model.converged, model.solver_result, model.iterations) == (float("inf"), False, None, 0)
    # the temperature is kept in float64: 0.1 is not rounded to float32's 0.100000001
    assert SoftValueIteration(mdp=_random_mdp(5), ent_coef=0.1).ent_coef == 0.1
    # every evaluation method and max_iter = 1 are accepted
    for evaluation in ("gmres", "iterative"):
        assert (
            SoftValueIteration(mdp=_random_mdp(5), solver="policy_iteration", evaluation=evaluation).evaluation == evaluation
        )
    assert SoftValueIteration(mdp=_random_mdp(5), max_iter=1).max_iter == 1
    with pytest.raises(ValueError, match=r"^max_iter must be >= 1, got 0$"):
        SoftValueIteration(mdp=_random_mdp(5), max_iter=0)
    with pytest.raises(TypeError, match=r"^mdp must be a TabularMDP \(see TabularMDP\.from_arrays\), got ndarray$"):
        SoftValueIteration(mdp=np.zeros((2, 2, 2)))
    with pytest.raises(
        ValueError,
        match=r"^SoftValueIteration needs a known MDP: pass mdp=TabularMDP\.from_arrays\(\.\.\.\) or a toy-text env$",
    ):
        SoftValueIteration()
    with pytest.raises(ValueError, match=r"^CartPole-v1 exposes no transition model"):
        SoftValueIteration.check_environment(gym.make("CartPole-v1"))


def test_learn_without_acting_logs_the_solution(tmp_path):
    model = SoftValueIteration(mdp=_random_mdp(6), ent_coef=0.2, gamma=0.9, tensorboard_log=str(tmp_path), verbose=0)
    model.learn()
    values = model.logger.name_to_value
    # recorded and dumped at step 0: nothing is left pending in the logger
    assert values == {} or all(v == 0 for v in values.values())
    # the TensorBoard run folder carries the algorithm's name
    assert [path.name for path in tmp_path.iterdir()] == ["SoftValueIteration_1"]
    model.learn(reset_num_timesteps=False)  # solved already: no second solve
    assert model._n_updates == model.iterations


def test_learn_acts_by_sampling_and_counts_episodes():
    env = gym.make("FrozenLake-v1", is_slippery=False)
    model = SoftValueIteration("TabularPolicy", env, ent_coef=2.0, gamma=0.9, seed=1)
    steps = []

    class Steps(BaseCallback):
        def _on_training_start(self):
            steps.append("start")

        def _on_step(self):
            steps.append(self.locals["actions"][0])
            return True

    model.learn(300, callback=Steps())
    assert steps[0] == "start" and len(steps) == 301
    # a hot Boltzmann policy: actions other than the greedy one are sampled too
    assert len(set(steps[1:])) == 4
    # every finished episode is counted and kept in the info buffer (at most stats_window_size)
    assert model._episode_num == len(model.ep_info_buffer) >= 3
    assert sum(info["l"] for info in model.ep_info_buffer) <= 300


@pytest.mark.parametrize(
    ("solver", "gamma", "used"),
    [("auto", 0.9, "newton"), ("value_iteration", 0.9, "value_iteration"), ("policy_iteration", 0.9, "policy_iteration")],
)
def test_the_solver_used_is_said(solver, gamma, used, capsys):
    env = gym.make("FrozenLake-v1", is_slippery=False)
    model = SoftValueIteration("TabularPolicy", env, ent_coef=0.1, gamma=gamma, solver=solver, verbose=1).learn()
    assert model.solver_used == used and model.converged
    assert f"SoftValueIteration: {used} solved 16 states in {model.iterations} iterations" in capsys.readouterr().out
    reference = SoftValueIteration("TabularPolicy", env, ent_coef=0.1, gamma=gamma, solver="value_iteration", tol=1e-12)
    np.testing.assert_allclose(model.q_values, reference.learn().q_values, atol=1e-6)
    with pytest.raises(ValueError, match=r"^solver must be one of 'auto', 'newton', 'value_iteration', 'policy_iteration'"):
        SoftValueIteration("TabularPolicy", env, solver="lp")


def test_auto_takes_value_iteration_at_gamma_one():
    env = gym.make("FrozenLake-v1", is_slippery=False)
    model = SoftValueIteration("TabularPolicy", env, ent_coef=0.1, gamma=1.0, max_iter=3)
    with pytest.warns(ConvergenceWarning):
        model.learn()
    assert model.solver_used == "value_iteration"
