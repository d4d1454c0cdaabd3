"""Bad input gets a clear error, never silent garbage."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.envs import IdentityEnv, IdentityEnvBox

from sb3_maxent import SACV1, DivergenceError


def test_an_action_space_neither_box_nor_discrete_is_refused():
    env = IdentityEnv(4)
    env.action_space = gym.spaces.MultiBinary(3)
    with pytest.raises(
        AssertionError, match=r"only supports \(<class 'gymnasium.spaces.box.Box'>, <class 'gymnasium.spaces.discrete"
    ):
        SACV1("MlpPolicy", env)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(tau=-0.1), "tau"),
        (dict(tau=1.5), "tau"),
        (dict(gamma=-0.1), "gamma"),
        (dict(gamma=1.01), "gamma"),
        (dict(ent_coef=-0.2), "ent_coef"),
        (dict(ent_coef="auto_0"), "ent_coef"),
        (dict(ent_coef="automatic"), "ent_coef"),
        (dict(batch_size=0), "batch_size"),
        (dict(buffer_size=0), "buffer_size"),
        (dict(learning_starts=-1), "learning_starts"),
        (dict(gradient_steps=-2), "gradient_steps"),
        (dict(target_update_interval=0), "target_update_interval"),
        (dict(learning_rate=-1e-3), "learning_rate"),
        (dict(learning_rate=float("nan")), "learning_rate"),
        (dict(target_entropy="high"), "target_entropy"),
        (dict(loss="l1"), "loss must be 'mse' or 'huber', got 'l1'"),
        (dict(policy_kwargs=dict(n_critics=0)), "n_critics"),
        (dict(policy_kwargs=dict(net_arch=dict(pi=[8], qf=[8], q=[8]))), "unknown keys"),
        (dict(policy_kwargs=dict(net_arch=dict(pi=[8]))), "net_arch"),
    ],
)
def test_invalid_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SACV1("MlpPolicy", IdentityEnvBox(), **kwargs)


class NaNRewardEnv(IdentityEnvBox):
    """Rewards turn NaN after a few steps, as a broken simulator's would."""

    def __init__(self):
        super().__init__(-1, 1)
        self.steps = 0

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        self.steps += 1
        return obs, (float("nan") if self.steps > 30 else reward), terminated, truncated, info


def test_nan_loss_on_finite_data_stops_training_with_the_loss_and_the_step():
    model = SACV1("MlpPolicy", IdentityEnvBox(-1, 1), learning_starts=40, batch_size=64, policy_kwargs=dict(net_arch=[8]))
    with th.no_grad():
        next(model.value_target.parameters()).fill_(float("inf"))  # a diverged target network, on finite data
    before = [p.detach().clone() for p in model.critic.parameters()]
    with pytest.raises(DivergenceError, match=r"critic_loss is nan at gradient step 0 \(environment step 4\d\)"):
        model.learn(100)
    # the garbage step was not applied
    assert all(np.array_equal(b.numpy(), p.detach().numpy()) for b, p in zip(before, model.critic.parameters(), strict=True))


def test_unknown_policy_alias():
    with pytest.raises(ValueError, match="Policy"):
        SACV1("TransformerPolicy", gym.make("Pendulum-v1"))


def test_non_finite_environment_data_is_counted_and_named():
    from stable_baselines3.common.type_aliases import ReplayBufferSamples

    from sb3_maxent import EnvironmentDataError
    from sb3_maxent.common.validation import check_finite_environment_data, check_finite_losses

    rewards = th.tensor([[1.0], [float("nan")], [float("inf")]])
    observations = {"image": np.array([[0.0, np.inf]]), "step": th.tensor([[3]])}  # an integer tensor holds no NaN
    expected = (
        r"^the replay batch holds non-finite values \(2 in rewards, 1 in observations\): they come from the "
        r"environment, not from training\. Find the step that produced them with "
        r"stable_baselines3\.common\.vec_env\.VecCheckNan\(env, raise_exception=True\)\.$"
    )
    with pytest.raises(EnvironmentDataError, match=expected):
        check_finite_environment_data("the replay batch", rewards=rewards, observations=observations, dones=None)
    # finite data, integer arrays and None pass
    check_finite_environment_data("x", rewards=th.zeros(3), actions=np.array([1, 2]), observations={"a": np.zeros(2)})

    finite = ReplayBufferSamples(th.zeros(2, 1), th.zeros(2, 1), th.zeros(2, 1), th.zeros(2, 1), th.zeros(2, 1))
    broken = finite._replace(next_observations=th.tensor([[0.0], [float("nan")]]))
    with pytest.raises(EnvironmentDataError, match=r"^the replay batch holds non-finite values \(1 in next_observations\)"):
        check_finite_losses({"critic_loss": float("nan")}, n_updates=3, num_timesteps=100, replay_data=broken)
    with pytest.raises(
        DivergenceError, match=r"^critic_loss is inf at gradient step 3 \(environment step 100\): training diverged\. "
    ):
        check_finite_losses(
            {"actor_loss": 1.0, "critic_loss": float("inf")}, n_updates=3, num_timesteps=100, replay_data=finite
        )
    check_finite_losses({"actor_loss": 1.0}, n_updates=0, num_timesteps=0)


def test_a_diverged_actor_is_named_and_other_errors_pass_through():
    from sb3_maxent import EnvironmentDataError
    from sb3_maxent.common.validation import diverged_network_blamed_for_errors, environment_data_blamed_for_errors

    def normal_of(loc):
        return th.distributions.Normal(th.tensor([loc]), th.tensor([1.0]), validate_args=True)

    actor = diverged_network_blamed_for_errors("the actor", n_updates=4, num_timesteps=9)
    with (
        pytest.raises(DivergenceError, match=r"^the actor's output is not finite at gradient step 4 \(environment step 9\)"),
        actor,
    ):
        normal_of(float("nan"))
    # non-finite input: the environment is named, not the network
    environment = environment_data_blamed_for_errors("the replay batch", observations=np.array([np.nan]))
    actor = diverged_network_blamed_for_errors("the actor", n_updates=4, num_timesteps=9)
    with pytest.raises(EnvironmentDataError, match="the replay batch holds non-finite values"), actor, environment:
        normal_of(float("nan"))
    actor = diverged_network_blamed_for_errors("the actor", n_updates=4, num_timesteps=9)
    with pytest.raises(ValueError, match=r"^unrelated$"), actor:
        raise ValueError("unrelated")
