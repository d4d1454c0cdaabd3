"""SACV1's contract: the value network's architecture, the policy's defaults, who trains a shared features extractor,
the optimisers' initial learning rates, the value target (evaluation mode, copied batch-norm statistics), the
arguments handed to SB3, and the errors that name the environment's data or a diverged actor."""

import re

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.envs import IdentityEnvBox
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from torch import nn

import sb3_maxent.sacv1.sacv1 as sacv1_module
from sb3_maxent import SACV1, DivergenceError
from sb3_maxent.common.validation import EnvironmentDataError
from sb3_maxent.sacv1.policies import ContinuousSACV1Policy, StateValueNetwork, split_value_arch

OBS_SPACE = spaces.Box(-1.0, 1.0, (3,), np.float32)
ACT_SPACE = spaces.Box(-1.0, 1.0, (2,), np.float32)


class LinearBatchNormExtractor(BaseFeaturesExtractor):
    """A features extractor with weights and batch-norm running statistics."""

    def __init__(self, observation_space: spaces.Box, features_dim: int = 4):
        super().__init__(observation_space, features_dim)
        self.linear = nn.Linear(int(np.prod(observation_space.shape)), features_dim)
        self.bn = nn.BatchNorm1d(features_dim)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.bn(self.linear(th.flatten(observations, start_dim=1)))


def _linear_sizes(module: nn.Module) -> list[int]:
    return [layer.out_features for layer in module.modules() if isinstance(layer, nn.Linear)]


def _small_sacv1(**kwargs) -> SACV1:
    kwargs.setdefault("policy_kwargs", {"net_arch": [8]})
    return SACV1("MlpPolicy", IdentityEnvBox(ep_length=10), learning_starts=0, batch_size=8, seed=0, **kwargs)


def test_split_value_arch_defaults_to_256_256_and_vf_to_qf():
    assert split_value_arch(None) == ([256, 256], [256, 256])
    assert split_value_arch({"pi": [8], "qf": [16]}) == ({"pi": [8], "qf": [16]}, [16])
    assert split_value_arch({"pi": [8], "qf": [16], "vf": [4]}) == ({"pi": [8], "qf": [16]}, [4])
    for missing_a_key in ({"qf": [16]}, {"pi": [8]}):
        message = f"net_arch must be a list of ints or a dict with keys 'pi', 'qf' (and optionally 'vf'), got {missing_a_key}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            split_value_arch(missing_a_key)


def test_policy_defaults():
    """ContinuousSACV1Policy's documented defaults, as SB3's SACPolicy: no gSDE, exp(), clip_mean 2, 256x256 networks."""
    policy = ContinuousSACV1Policy(OBS_SPACE, ACT_SPACE, lambda _: 3e-4)
    assert policy.net_arch == [256, 256]
    assert policy.actor_kwargs["use_sde"] is False
    assert policy.actor_kwargs["use_expln"] is False
    assert policy.actor_kwargs["clip_mean"] == 2.0
    assert policy.normalize_images is True
    assert policy.share_features_extractor is False
    assert _linear_sizes(policy.actor.latent_pi) == [256, 256]
    assert _linear_sizes(policy.value_net.v_net) == [256, 256, 1]
    assert _linear_sizes(policy.value_target.v_net) == [256, 256, 1]


def test_value_network_takes_the_critics_layers_without_vf():
    policy = ContinuousSACV1Policy(OBS_SPACE, ACT_SPACE, lambda _: 3e-4, net_arch={"pi": [5], "qf": [7, 6]})
    assert policy.net_arch == {"pi": [5], "qf": [7, 6]}
    assert _linear_sizes(policy.actor.latent_pi) == [5]
    assert _linear_sizes(policy.value_net.v_net) == [7, 6, 1]


def test_state_value_network_defaults_and_arguments():
    network = StateValueNetwork(OBS_SPACE, ACT_SPACE, [8], FlattenExtractor(OBS_SPACE), 3)
    assert network.normalize_images is True
    assert network.share_features_extractor is False
    assert network.action_space == ACT_SPACE

    policy = ContinuousSACV1Policy(
        OBS_SPACE,
        ACT_SPACE,
        lambda _: 3e-4,
        net_arch=[8],
        activation_fn=nn.Tanh,
        normalize_images=False,
        share_features_extractor=True,
    )
    for network in (policy.value_net, policy.value_target):
        assert network.normalize_images is False
        assert network.action_space == ACT_SPACE
        assert [type(layer) for layer in network.v_net] == [nn.Linear, nn.Tanh, nn.Linear]
    assert policy.value_net.share_features_extractor is True


@pytest.mark.parametrize("share", [False, True])
def test_value_loss_trains_the_features_extractor_only_when_not_shared(share):
    """A shared extractor gets no gradient from V (SB3 convention); the value network's own extractor does."""
    policy = ContinuousSACV1Policy(
        OBS_SPACE,
        ACT_SPACE,
        lambda _: 3e-4,
        net_arch=[8],
        features_extractor_class=LinearBatchNormExtractor,
        share_features_extractor=share,
    )
    policy.value_net(th.linspace(-1.0, 1.0, 12).reshape(4, 3)).sum().backward()
    extractor_grad = policy.value_net.features_extractor.linear.weight.grad
    if share:
        assert extractor_grad is None
    else:
        assert extractor_grad is not None and extractor_grad.abs().sum() > 0
    assert policy.value_net.v_net[0].weight.grad.abs().sum() > 0


def test_features_extractor_kwargs_reach_every_network():
    policy = ContinuousSACV1Policy(
        OBS_SPACE,
        ACT_SPACE,
        lambda _: 3e-4,
        net_arch=[8],
        features_extractor_class=LinearBatchNormExtractor,
        features_extractor_kwargs={"features_dim": 6},
    )
    networks = (policy.actor, policy.critic, policy.value_net, policy.value_target)
    assert [network.features_extractor.features_dim for network in networks] == [6] * 4
    assert policy.value_net.v_net[0].in_features == 6


def test_shared_features_extractor_is_in_the_actors_optimizer_only():
    policy = ContinuousSACV1Policy(
        OBS_SPACE,
        ACT_SPACE,
        lambda _: 3e-4,
        net_arch=[8],
        features_extractor_class=LinearBatchNormExtractor,
        share_features_extractor=True,
    )

    def optimized(optimizer):
        return {id(param) for group in optimizer.param_groups for param in group["params"]}

    extractor = {id(param) for param in policy.actor.features_extractor.parameters()}
    assert extractor and extractor <= optimized(policy.actor.optimizer)
    for network in (policy.critic, policy.value_net):
        own = {id(param) for name, param in network.named_parameters() if not name.startswith("features_extractor")}
        assert optimized(network.optimizer) == own


def test_optimizers_start_at_the_schedules_initial_value():
    """lr_schedule(1) (progress remaining 1) before any training, for all four optimisers."""
    model = _small_sacv1(learning_rate=lambda progress_remaining: 2e-3 * progress_remaining, ent_coef="auto")
    optimizers = [model.actor.optimizer, model.critic.optimizer, model.value_net.optimizer, model.ent_coef_optimizer]
    assert [optimizer.param_groups[0]["lr"] for optimizer in optimizers] == [2e-3] * 4


def test_value_target_stays_in_evaluation_mode():
    model = _small_sacv1()
    assert model.value_target.training is False
    model.learn(total_timesteps=10)
    assert model.value_target.training is False


def test_value_target_copies_batch_norm_statistics():
    """Running statistics are copied to the target (SB3 GH #996), the weights Polyak-averaged."""
    model = _small_sacv1(policy_kwargs={"net_arch": [8], "features_extractor_class": LinearBatchNormExtractor})
    model.learn(total_timesteps=12)
    online, target = model.value_net.features_extractor.bn, model.value_target.features_extractor.bn
    assert online.num_batches_tracked.item() == 12
    assert th.equal(target.running_mean, online.running_mean)
    assert th.equal(target.running_var, online.running_var)
    assert not th.equal(target.running_mean, th.zeros(4))
    assert not th.equal(model.value_target.v_net[0].weight, model.value_net.v_net[0].weight)


def test_constructor_arguments_reach_sb3():
    model = _small_sacv1()
    assert model.use_sde_at_warmup is False
    model = _small_sacv1(use_sde=True, sde_sample_freq=4, use_sde_at_warmup=True, verbose=2)
    assert (model.sde_sample_freq, model.use_sde_at_warmup, model.verbose) == (4, True, 2)


def test_loss_checks_are_told_each_gradient_steps_index(monkeypatch):
    """The index in a divergence message is that of the gradient step (n_updates so far + step of this call)."""
    model = _small_sacv1()
    model.learn(total_timesteps=10)
    assert model._n_updates == 10
    seen = []
    monkeypatch.setattr(sacv1_module, "check_finite_losses", lambda losses, **kwargs: seen.append(kwargs["n_updates"]))
    model.train(gradient_steps=3, batch_size=4)
    assert seen == [10, 11, 12]


class NaNObservationEnv(gym.Env):
    """Observations are NaN from the first step on."""

    observation_space = OBS_SPACE
    action_space = ACT_SPACE

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.full(3, np.nan, np.float32), {}

    def step(self, action):
        return np.full(3, np.nan, np.float32), 0.0, False, False, {}


def test_nan_observation_from_the_environment_is_blamed_on_it():
    model = SACV1("MlpPolicy", NaNObservationEnv(), learning_starts=0, policy_kwargs={"net_arch": [8]}, seed=0)
    message = (
        "the observation from the environment holds non-finite values (3 in observations): they come from the "
        "environment, not from training. Find the step that produced them with "
        "stable_baselines3.common.vec_env.VecCheckNan(env, raise_exception=True)."
    )
    with pytest.raises(EnvironmentDataError, match=f"^{re.escape(message)}$"):
        model.learn(total_timesteps=1)


def test_nan_in_the_replay_batch_is_blamed_on_it():
    model = _small_sacv1()
    model.learn(total_timesteps=10)
    model.replay_buffer.observations[:] = np.nan
    with pytest.raises(EnvironmentDataError, match=r"^the replay batch holds non-finite values \(4 in observations"):
        model.train(gradient_steps=1, batch_size=4)


def test_actor_diverged_while_acting_names_the_gradient_step():
    model = _small_sacv1()
    model.learn(total_timesteps=10)
    with th.no_grad():
        model.actor.mu.weight.fill_(np.nan)
    message = (
        "the actor's output is not finite at gradient step 10 (environment step 10) although its input is: "
        "training diverged. Lower the learning rate, rescale rewards or lower ent_coef."
    )
    with pytest.raises(DivergenceError, match=f"^{re.escape(message)}$"):
        model.learn(total_timesteps=1, reset_num_timesteps=False)


class _Recorder(BaseCallback):
    created = 0

    def __init__(self, *args, **kwargs):
        super().__init__()
        type(self).created += 1

    def _on_step(self) -> bool:
        return True


def test_learn_defaults_log_every_4_episodes_without_progress_bar(monkeypatch):
    monkeypatch.setattr("stable_baselines3.common.base_class.ProgressBarCallback", _Recorder)
    model = SACV1("MlpPolicy", IdentityEnvBox(ep_length=1), learning_starts=100, policy_kwargs={"net_arch": [8]}, seed=0)
    dumps = []
    monkeypatch.setattr(model, "dump_logs", lambda: dumps.append(model._episode_num))
    _Recorder.created = 0
    model.learn(total_timesteps=8)
    assert dumps == [4, 8]
    assert _Recorder.created == 0
    model.learn(total_timesteps=1, progress_bar=True)
    assert _Recorder.created == 1


def test_make_value_net_builds_on_the_policys_device():
    """A value network made later (make_value_net is public) lands where the policy is, here the meta device."""
    policy = ContinuousSACV1Policy(OBS_SPACE, ACT_SPACE, lambda _: 3e-4, net_arch=[8]).to("meta")
    assert {param.device.type for param in policy.make_value_net().parameters()} == {"meta"}


def test_train_samples_batches_of_64_by_default(monkeypatch):
    """train()'s own default batch size is SB3 SAC's (learn() passes the model's batch_size)."""
    model = _small_sacv1()
    model.learn(total_timesteps=10)
    sizes = []
    real_sample = model.replay_buffer.sample
    monkeypatch.setattr(
        model.replay_buffer, "sample", lambda batch_size, env=None: sizes.append(batch_size) or real_sample(batch_size, env)
    )
    model.train(gradient_steps=1)
    assert sizes == [64]
