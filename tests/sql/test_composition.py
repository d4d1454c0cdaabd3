r"""
Composition of soft Q-functions (``sb3_maxent.sql.composition``; Haarnoja et al. 2018, "Composable Deep
Reinforcement Learning for Robotic Manipulation"): the bound :math:`Q_\Sigma - C^* \le Q^*_C \le Q_\Sigma` on
random tabular MDPs against exact solutions, its exact cases, and the policy acting with the composition.
"""

import os
import re
from fractions import Fraction

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_maxent import SoftQLearning, TabularMDP
from sb3_maxent.common.soft_bellman import soft_value
from sb3_maxent.sql.composition import ComposedSoftQPolicy, compose_q_values, composition_weights
from sb3_maxent.tabular import soft_value_iteration

TOL = 1e-11  # value iteration's stopping residual


def solve(transitions, rewards, gamma, ent_coef):
    return soft_value_iteration(TabularMDP.from_arrays(transitions, rewards), gamma, ent_coef, tol=TOL).q_values


def solver_error(gamma):
    """|Q - Q*| of value iteration stopped at residual TOL is at most gamma TOL / (1 - gamma) (the contraction)."""
    return gamma * TOL / (1 - gamma)


def composition_gap(transitions, q_values, weights, gamma, ent_coef):
    r""":math:`C^*`: the hard Q-function of the reward :math:`\gamma\,\mathbb{E}_{s'}[D(s')]`, :math:`D \ge 0`."""
    composed = compose_q_values(q_values, weights)
    disagreement = sum(w * soft_value(q, ent_coef) for w, q in zip(weights, q_values, strict=True)) - soft_value(
        composed, ent_coef
    )
    assert np.all(disagreement >= -1e-9)  # Hölder's inequality
    return solve(transitions, gamma * transitions @ disagreement, gamma, 0.0)


def random_mdp(seed, n_states, n_actions):
    rng = np.random.default_rng(seed)
    transitions = rng.dirichlet(np.full(n_states, 0.3), size=(n_states, n_actions))
    return transitions, rng.normal(size=(n_states, n_actions)), rng.normal(size=(n_states, n_actions))


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_states=st.integers(1, 6),
    n_actions=st.integers(1, 4),
    gamma=st.sampled_from([0.0, 0.5, 0.9]),
    ent_coef=st.sampled_from([0.1, 1.0, 3.0]),
    w1=st.floats(0.0, 1.0),
)
def test_the_composed_q_function_bounds_the_optimal_one_from_both_sides(seed, n_states, n_actions, gamma, ent_coef, w1):
    transitions, reward_1, reward_2 = random_mdp(seed, n_states, n_actions)
    weights = [w1, 1.0 - w1]
    q_1, q_2 = (solve(transitions, reward, gamma, ent_coef) for reward in (reward_1, reward_2))
    q_mixed = solve(transitions, w1 * reward_1 + (1 - w1) * reward_2, gamma, ent_coef)
    composed = compose_q_values([q_1, q_2], weights)
    gap = composition_gap(transitions, [q_1, q_2], weights, gamma, ent_coef)
    # four value-iteration solutions enter each side: each within solver_error of its fixed point
    slack = 4 * solver_error(gamma) + 1e-12 * max(1.0, np.abs(composed).max())
    assert np.all(q_mixed <= composed + slack)
    assert np.all(q_mixed >= composed - gap - slack)


def test_composition_is_exact_without_a_future():
    # gamma = 0: Q*_i = r_i, so Q*_C = sum_i w_i r_i = Q_Sigma
    transitions, reward_1, reward_2 = random_mdp(0, 4, 3)
    q_1, q_2 = solve(transitions, reward_1, 0.0, 1.0), solve(transitions, reward_2, 0.0, 1.0)
    # two products and a sum: within 2 ulps of the larger term, an absolute bound (a relative one is unbounded where
    # 0.25 r_1 + 0.75 r_2 cancels; rtol=1e-15 held only while both sides were the very same elementwise operations)
    scale = np.abs(reward_1).max() + np.abs(reward_2).max()
    np.testing.assert_allclose(
        compose_q_values([q_1, q_2], [0.25, 0.75]),
        0.25 * reward_1 + 0.75 * reward_2,
        rtol=0,
        atol=4 * np.finfo(float).eps * scale,
    )


def test_composition_of_identical_tasks_is_the_task_and_its_gap_is_zero():
    transitions, reward, _ = random_mdp(1, 5, 3)
    q_star = solve(transitions, reward, 0.9, 0.5)
    np.testing.assert_allclose(compose_q_values([q_star, q_star, q_star]), q_star, rtol=1e-14)
    assert np.abs(composition_gap(transitions, [q_star, q_star], [0.5, 0.5], 0.9, 0.5)).max() <= 1e-12


def test_the_bound_is_strict_where_the_tasks_disagree():
    # two tasks that want opposite actions: the composition's gap is positive, and Q*_C lies strictly inside
    transitions = np.zeros((2, 2, 2))
    transitions[:, 0, 0] = transitions[:, 1, 1] = 1.0
    reward_1, reward_2 = np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 1.0], [0.0, 1.0]])
    gamma, ent_coef = 0.9, 0.5
    q_1, q_2 = solve(transitions, reward_1, gamma, ent_coef), solve(transitions, reward_2, gamma, ent_coef)
    q_mixed = solve(transitions, 0.5 * (reward_1 + reward_2), gamma, ent_coef)
    composed = compose_q_values([q_1, q_2])
    assert np.all(composition_gap(transitions, [q_1, q_2], [0.5, 0.5], gamma, ent_coef) > 0.1)
    assert np.all(q_mixed < composed - 0.1)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([0.5], r"weights must have one entry per soft Q-function \(2\), got shape \(1,\)"),
        ([0.7, 0.7], r"weights must be finite, non-negative and sum to 1"),
        ([1.5, -0.5], r"weights must be finite, non-negative and sum to 1"),
        ([float("nan"), 1.0], r"weights must be finite, non-negative and sum to 1"),
    ],
)
def test_weights_off_the_simplex_are_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        composition_weights(weights, 2)


def discrete_model(bias, ent_coef=0.5):
    """A SoftQLearning model on CartPole whose Q-network outputs ``bias`` whatever the state."""
    model = SoftQLearning("MlpPolicy", "CartPole-v1", ent_coef=ent_coef, seed=0, policy_kwargs={"net_arch": [8]})
    last = model.policy.q_net.q_net[-1]
    with th.no_grad():
        last.weight.zero_()
        last.bias.copy_(th.tensor(bias))
    return model


def test_the_composed_discrete_policy_samples_the_boltzmann_policy_of_the_weighted_sum():
    th.manual_seed(0)
    models = [discrete_model([1.0, 0.0]), discrete_model([0.0, 0.6])]
    policy = ComposedSoftQPolicy(models, weights=[0.25, 0.75])
    # Q_Sigma = (0.25, 0.45): pi(1) = sigmoid((0.45 - 0.25) / 0.5)
    p_right = 1.0 / (1.0 + np.exp(-0.4))
    observations = np.zeros((20_000, 4), dtype=np.float32)
    actions, _ = policy.predict(observations)
    # binomial standard deviation sqrt(p (1 - p) / n) = 0.0035: 5 of them
    assert abs(actions.mean() - p_right) < 5 * np.sqrt(p_right * (1 - p_right) / len(actions))
    assert np.all(policy.predict(observations[:10], deterministic=True)[0] == 1)
    action, _ = policy.predict(observations[0], deterministic=True)
    assert np.shape(action) == () and action == 1


def test_the_composed_continuous_policy_acts_in_the_box_and_evaluates():
    models = [
        SoftQLearning("MlpPolicy", "Pendulum-v1", ent_coef=0.1, seed=seed, policy_kwargs={"net_arch": [8]}) for seed in (0, 1)
    ]
    policy = ComposedSoftQPolicy(models, n_particles=64)
    observations = np.zeros((5, 3), dtype=np.float32)
    for deterministic in (False, True):
        actions, _ = policy.predict(observations, deterministic=deterministic)
        assert actions.shape == (5, 1) and np.all(np.abs(actions) <= 2.0)
    # the mode among the particles is the particle of largest Q_Sigma
    th.manual_seed(3)
    obs = th.zeros(1, 3)
    particles = 2.0 * th.rand(1, 64, 1) - 1.0
    best = particles[0, policy.q_values(obs, particles).argmax(dim=1)].item()
    th.manual_seed(3)
    action, _ = policy.predict(np.zeros(3, dtype=np.float32), deterministic=True)
    assert action.shape == (1,) and action[0] == pytest.approx(2.0 * best, rel=1e-6)
    mean_return, _ = evaluate_policy(policy, models[0].get_env(), n_eval_episodes=1)
    assert np.isfinite(mean_return)


def exactly(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern for the whole message."""
    return f"^{re.escape(message)}$"


def test_a_composition_needs_one_soft_q_function_and_of_one_is_that_function():
    with pytest.raises(ValueError, match=exactly("a composition needs at least one soft Q-function")):
        compose_q_values([])
    q_values = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(composition_weights(None, 1), [1.0])
    np.testing.assert_array_equal(compose_q_values([q_values]), q_values)  # 1.0 * q: exact
    model = discrete_model([0.2, 0.7])
    policy = ComposedSoftQPolicy([model])
    assert policy.ent_coef == 0.5 and policy.n_particles == 1000  # the documented default proposal
    assert policy.observation_space == model.observation_space and policy.action_space == model.action_space
    observations = th.zeros(3, 4)
    assert th.equal(policy.q_values(observations), model.policy.q_net(observations))


def test_soft_q_values_of_different_shapes_are_refused_by_name():
    message = "the soft Q-values to compose must have one shape, got [(2, 3), (2, 4)]"
    with pytest.raises(ValueError, match=exactly(message)):
        compose_q_values([np.zeros((2, 4)), th.zeros(2, 3)])


def test_weights_sum_to_one_up_to_rounding_not_beyond():
    # ten tenths sum to 1 - 1.1e-16 in float64: on the simplex
    np.testing.assert_array_equal(composition_weights([0.1] * 10, 10), [0.1] * 10)
    # 5e-9 off is no rounding error of weights that sum to 1: refused (the tolerance is an absolute 1e-9)
    with pytest.raises(ValueError, match=r"weights must be finite, non-negative and sum to 1"):
        composition_weights([0.5, 0.5 + 5e-9], 2)


@pytest.mark.parametrize(("weights", "expected"), [([0, 1], [0.0, 1.0]), ([Fraction(1, 4), Fraction(3, 4)], [0.25, 0.75])])
def test_weights_given_as_other_numbers_are_read_as_floats(weights, expected):
    # integers (a one-hot choice of one task) and exact fractions are numbers on the simplex like any other
    mixture = composition_weights(weights, 2)
    assert mixture.dtype == np.float64
    np.testing.assert_array_equal(mixture, expected)
    q_1, q_2 = np.array([[1.0, 2.0]]), np.array([[4.0, -8.0]])
    np.testing.assert_array_equal(compose_q_values([q_1, q_2], weights), expected[0] * q_1 + expected[1] * q_2)


class SpacesEnv(gym.Env):
    """An environment with the given spaces (the models below are built on it, never trained)."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space):
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def untrained(env, ent_coef=0.5, policy="MlpPolicy"):
    return SoftQLearning(policy, env, ent_coef=ent_coef, buffer_size=100, policy_kwargs={"net_arch": [8]})


def test_composed_models_must_be_soft_q_learning_models_of_one_kind():
    with pytest.raises(TypeError, match=exactly("models must be a non-empty sequence of SoftQLearning models")):
        ComposedSoftQPolicy([])
    with pytest.raises(ValueError, match=exactly("models must all have discrete actions or all continuous actions")):
        ComposedSoftQPolicy([discrete_model([0.0, 0.0]), untrained("Pendulum-v1")])


def test_composed_models_must_share_their_observation_space_and_their_action_space():
    cart_pole = discrete_model([0.0, 0.0])
    box, actions = cart_pole.observation_space, cart_pole.action_space
    other_observations = untrained(SpacesEnv(spaces.Box(-1.0, 1.0, (4,)), actions))
    other_actions = untrained(SpacesEnv(box, spaces.Discrete(3)))
    message = exactly("models must share their observation and action spaces")
    for models in ([cart_pole, other_observations], [other_observations, cart_pole], [cart_pole, other_actions]):
        with pytest.raises(ValueError, match=message):
            ComposedSoftQPolicy(models)
    # the first model is the reference: a third one that differs is refused too
    with pytest.raises(ValueError, match=message):
        ComposedSoftQPolicy([cart_pole, discrete_model([1.0, 0.0]), other_actions])


@pytest.mark.parametrize(
    ("ent_coefs", "message"),
    [
        ((0.5, 0.25), r"got [0.5, 0.25]"),
        # temperatures are float32: equal ones agree to 6e-8; 8e-6 apart (relative) are two temperatures
        ((0.5, 0.500004), r"got [0.5, 0.5000039"),
        # the check is relative: a factor 2 between tiny temperatures is refused
        ((1e-9, 2e-9), r"got [9.99999"),
        # the Boltzmann policy exp(Q / alpha) needs alpha > 0 (ent_coef=0 is DQN's greedy policy)
        ((0.0, 0.0), r"got [0.0, 0.0]"),
    ],
)
def test_composed_models_must_share_one_positive_temperature(ent_coefs, message):
    models = [discrete_model([0.0, 0.0], ent_coef=ent_coef) for ent_coef in ent_coefs]
    with pytest.raises(ValueError, match=r"^models must share one positive temperature \(ent_coef\), " + re.escape(message)):
        ComposedSoftQPolicy(models)


def test_temperatures_equal_up_to_float32_rounding_are_one_temperature():
    models = [discrete_model([0.0, 0.0], ent_coef=ent_coef) for ent_coef in (0.5, 0.5 * (1 + 2**-23))]
    assert models[0].temperature.item() != models[1].temperature.item()  # one float32 ulp apart
    assert ComposedSoftQPolicy(models).ent_coef == 0.5


@pytest.mark.parametrize("n_particles", [0, -3, True, 2.5, "1000"])
def test_n_particles_must_be_a_positive_integer(n_particles):
    with pytest.raises(ValueError, match=exactly(f"n_particles must be a positive integer, got {n_particles!r}")):
        ComposedSoftQPolicy([discrete_model([0.0, 0.0])], n_particles=n_particles)


def test_one_particle_is_a_uniform_action():
    policy = ComposedSoftQPolicy([untrained("Pendulum-v1")], n_particles=1)
    th.manual_seed(0)
    actions, _ = policy.predict(np.zeros((4000, 3), dtype=np.float32))
    # U(-2, 2): mean 0, standard deviation 4 / sqrt(12); 5 standard errors of the mean
    assert abs(actions.mean()) < 5 * (4 / np.sqrt(12)) / np.sqrt(len(actions))
    assert actions.min() >= -2.0 and actions.max() <= 2.0


def linear_in_action_model(slope: float, ent_coef: float = 0.5):
    """A SoftQLearning model on Pendulum whose critic is Q(s, a) = slope (a + 1), a in [-1, 1] the squashed action."""
    model = untrained("Pendulum-v1", ent_coef=ent_coef)
    with th.no_grad():
        for q_net in model.critic.q_networks:
            first, last = q_net[0], q_net[-1]
            for parameter in (first.weight, first.bias, last.weight, last.bias):
                parameter.zero_()
            first.weight[0, -1], first.bias[0] = 1.0, 1.0  # hidden unit 0: relu(a + 1) = a + 1
            last.weight[0, 0] = slope
    return model


def test_the_composed_continuous_policy_samples_the_boltzmann_policy_of_the_weighted_sum():
    # Q_Sigma = (0.75 * 3 - 0.25 * 1) (a + 1) = 2 (a + 1): pi(a) ~ exp(k a) on [-1, 1] with k = 2 / alpha = 4,
    # of mean coth(k) - 1 / k (equal weights would give k = 2, mean 0.54; the mode, a = 1)
    policy = ComposedSoftQPolicy([linear_in_action_model(3.0), linear_in_action_model(-1.0)], weights=[0.75, 0.25])
    k = 4.0
    mean = 1 / np.tanh(k) - 1 / k
    std = np.sqrt(1 / k**2 - 1 / np.sinh(k) ** 2)
    th.manual_seed(0)
    squashed = policy.predict(np.zeros((2000, 3), dtype=np.float32))[0][:, 0] / 2.0
    # 5 standard errors of the mean, plus the bias of resampling 1000 particles (-0.5 / n_particles, measured)
    assert abs(squashed.mean() - mean) < 5 * std / np.sqrt(len(squashed)) + 1e-3


def test_the_composed_continuous_policy_is_deterministic_at_its_best_particle():
    # Q_Sigma increases with the action: the mode of each observation's particles is the largest one
    policy = ComposedSoftQPolicy([linear_in_action_model(1.0), linear_in_action_model(2.0)], n_particles=64)
    th.manual_seed(5)
    particles = 2.0 * th.rand(6, 64, 1) - 1.0
    th.manual_seed(5)
    actions, _ = policy.predict(np.zeros((6, 3), dtype=np.float32), deterministic=True)
    np.testing.assert_array_equal(actions, 2.0 * particles.max(dim=1).values.numpy())


def test_the_composed_continuous_policy_takes_dict_observations():
    observation_space = spaces.Dict({"position": spaces.Box(-1.0, 1.0, (3,)), "goal": spaces.Box(-1.0, 1.0, (2,))})
    model = untrained(SpacesEnv(observation_space, spaces.Box(-2.0, 2.0, (1,))), policy="MultiInputPolicy")
    policy = ComposedSoftQPolicy([model], n_particles=16)
    observations = {"position": np.zeros((4, 3), dtype=np.float32), "goal": np.zeros((4, 2), dtype=np.float32)}
    for deterministic in (False, True):
        actions, _ = policy.predict(observations, deterministic=deterministic)
        assert actions.shape == (4, 1) and np.all(np.abs(actions) <= 2.0)


def test_composed_actions_have_the_shape_of_the_models_actions():
    model = untrained(SpacesEnv(spaces.Box(-1.0, 1.0, (3,)), spaces.Box(-2.0, 2.0, ())))
    policy = ComposedSoftQPolicy([model], n_particles=16)
    observations = np.zeros((4, 3), dtype=np.float32)
    assert policy.predict(observations)[0].shape == model.predict(observations)[0].shape == (4,)
    assert policy.predict(observations[0])[0].shape == model.predict(observations[0])[0].shape == ()


def test_composed_actions_of_a_matrix_shaped_action_box():
    model = untrained(SpacesEnv(spaces.Box(-1.0, 1.0, (3,)), spaces.Box(-2.0, 2.0, (2, 2))))
    observations = np.zeros((4, 3), dtype=np.float32)
    actions, _ = ComposedSoftQPolicy([model], n_particles=16).predict(observations)
    assert actions.shape == model.predict(observations)[0].shape == (4, 2, 2)


DEVICE = os.environ.get("SB3_MAXENT_TEST_DEVICE", "cpu")


@pytest.mark.skipif(DEVICE.startswith("cuda") and not th.cuda.is_available(), reason=f"{DEVICE}: no GPU here")
def test_the_composed_policy_acts_with_models_on_their_device():
    # on a GPU: SB3_MAXENT_TEST_DEVICE=cuda python -m pytest tests/sql/test_composition.py (as tests/sb3/test_device.py)
    models = [
        SoftQLearning(
            "MlpPolicy", "Pendulum-v1", ent_coef=0.1, buffer_size=100, device=DEVICE, policy_kwargs={"net_arch": [8]}
        ),
        SoftQLearning(
            "MlpPolicy", "CartPole-v1", ent_coef=0.1, buffer_size=100, device=DEVICE, policy_kwargs={"net_arch": [8]}
        ),
    ]
    for model, shape in zip(models, [(5, 1), (5,)], strict=True):
        for deterministic in (False, True):
            actions, _ = ComposedSoftQPolicy([model], n_particles=8).predict(
                np.zeros((5, *model.observation_space.shape), dtype=np.float32), deterministic=deterministic
            )
            assert actions.shape == shape


def test_the_continuous_particles_are_drawn_on_the_models_device():
    # "meta" stands in for an accelerator: the particles must be drawn where the models' networks are, not on the CPU
    # (the networks stay on the CPU here, so the particles are looked at before they reach a network)
    model = SoftQLearning("MlpPolicy", "Pendulum-v1", ent_coef=0.1, policy_kwargs={"net_arch": [8]})
    policy = ComposedSoftQPolicy([model], n_particles=4)
    model.device = th.device("meta")
    devices = []

    class Drawn(Exception):
        pass

    def q_values(obs, particles):
        devices.append(particles.device.type)
        raise Drawn

    policy.q_values = q_values
    with pytest.raises(Drawn):
        policy.predict(np.zeros(3, dtype=np.float32))
    assert devices == ["meta"]
