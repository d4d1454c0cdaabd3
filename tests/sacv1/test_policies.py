"""
The parts of discrete SACV1's policy on their own, as SB3 users reach them: the softmax actor and the critics built
directly (their defaults), saved and loaded alone, ``predict``; where the critics' gradients go; the device and the
features extractor ``make_actor``/``make_critic`` build with.
"""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.envs import IdentityEnv
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor

from sb3_maxent import SACV1
from sb3_maxent.sacv1.policies import DiscreteActor, DiscreteCritic, DiscreteSACV1Policy

OBSERVATION_SPACE, ACTION_SPACE = spaces.Discrete(3), spaces.Discrete(3)
# the three observations of IdentityEnv(3), as the replay buffer holds them
OBSERVATIONS = th.arange(3)


class LinearExtractor(BaseFeaturesExtractor):
    """A features extractor with parameters, to see which losses train it."""

    def __init__(self, observation_space: spaces.Space, features_dim: int = 4):
        super().__init__(observation_space, features_dim)
        self.linear = th.nn.Linear(get_flattened_obs_dim(observation_space), features_dim)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.linear(observations.flatten(start_dim=1))


def policy(**policy_kwargs) -> DiscreteSACV1Policy:
    model = SACV1("MlpPolicy", IdentityEnv(3), policy_kwargs={"net_arch": [8], **policy_kwargs}, seed=0)
    return model.policy


def test_the_actor_and_the_critics_built_directly_take_the_documented_defaults():
    extractor = FlattenExtractor(OBSERVATION_SPACE)
    actor = DiscreteActor(OBSERVATION_SPACE, ACTION_SPACE, [8], extractor, 3)
    critic = DiscreteCritic(OBSERVATION_SPACE, ACTION_SPACE, [8], extractor, 3)
    assert actor.normalize_images is True and critic.normalize_images is True
    assert (critic.n_critics, len(critic.q_networks), critic.share_features_extractor) == (2, 2, False)
    assert actor.action_space is ACTION_SPACE and critic.action_space is ACTION_SPACE
    built = DiscreteSACV1Policy(OBSERVATION_SPACE, ACTION_SPACE, lambda _: 1e-3)
    assert (built.normalize_images, built.share_features_extractor) == (True, False)
    assert built.actor.normalize_images is True and built.critic.normalize_images is True


def test_the_policys_arguments_reach_the_actor_and_the_critics():
    built = policy(activation_fn=th.nn.Tanh, normalize_images=False, n_critics=3)
    assert built.actor.normalize_images is False and built.critic.normalize_images is False
    assert (built.actor.net_arch, built.actor.features_dim, built.actor.activation_fn) == ([8], 3, th.nn.Tanh)
    assert built.critic.n_critics == 3 and built.critic.action_space is built.action_space
    # the activation is in every network
    for network in (built.actor.logits_net, *built.critic.q_networks):
        activations = [type(layer) for layer in network if isinstance(layer, (th.nn.ReLU, th.nn.Tanh))]
        assert activations == [th.nn.Tanh]


def test_the_actor_saves_and_loads_on_its_own(tmp_path):
    actor = policy(activation_fn=th.nn.Tanh).actor
    actor.save(tmp_path / "actor.pth")
    loaded = DiscreteActor.load(tmp_path / "actor.pth")
    assert (loaded.net_arch, loaded.features_dim, loaded.activation_fn) == ([8], 3, th.nn.Tanh)
    assert loaded.action_space == actor.action_space and loaded.normalize_images is True
    assert isinstance(loaded.features_extractor, FlattenExtractor)
    assert th.equal(loaded.action_log_probs(OBSERVATIONS), actor.action_log_probs(OBSERVATIONS))


def test_the_actors_predict_is_the_argmax_or_a_draw_from_the_softmax():
    actor = policy().actor
    observations = np.tile(np.arange(3), 100)
    greedy = actor.action_log_probs(th.as_tensor(observations)).argmax(dim=1).numpy()
    np.testing.assert_array_equal(actor.predict(observations, deterministic=True)[0], greedy)
    # near-uniform probabilities over 3 actions: 300 draws all equal to the argmax have probability about 3^-300
    th.manual_seed(0)
    assert not np.array_equal(actor.predict(observations)[0], greedy)
    # called as a module, it draws too (as SB3's Actor)
    assert not np.array_equal(actor(th.as_tensor(observations)).numpy(), greedy)


def test_the_critics_train_their_own_features_extractor_and_not_a_shared_one():
    critic = policy(features_extractor_class=LinearExtractor).critic
    sum(q.sum() for q in critic(OBSERVATIONS)).backward()
    assert critic.features_extractor.linear.weight.grad is not None
    with th.no_grad():
        assert not any(q.requires_grad for q in critic(OBSERVATIONS))
    shared = policy(features_extractor_class=LinearExtractor, share_features_extractor=True)
    assert shared.critic.share_features_extractor is True
    assert shared.critic.features_extractor is shared.actor.features_extractor
    sum(q.sum() for q in shared.critic(OBSERVATIONS)).backward()
    assert shared.critic.features_extractor.linear.weight.grad is None


def test_the_make_methods_use_the_given_extractor_and_the_policys_device():
    built = policy()
    extractor = FlattenExtractor(OBSERVATION_SPACE)
    assert built.make_actor(features_extractor=extractor).features_extractor is extractor
    assert built.make_critic(features_extractor=extractor).features_extractor is extractor
    assert built.make_value_net(features_extractor=extractor).features_extractor is extractor
    # "meta" stands in for an accelerator: the parts are built where the policy's parameters are
    built.to("meta")
    for part in (built.make_actor(), built.make_critic(), built.make_value_net()):
        assert {parameter.device.type for parameter in part.parameters()} == {"meta"}


def test_the_discrete_policy_has_no_gsde_noise_to_reset():
    with pytest.raises(
        ValueError,
        match=r"^gSDE exploration noise is for Box actions: a softmax policy over discrete actions has none$",
    ):
        policy().reset_noise()


def test_the_policy_saves_and_loads_on_its_own(tmp_path):
    built = policy(activation_fn=th.nn.Tanh, n_critics=3)
    built.save(tmp_path / "policy.pth")
    loaded = DiscreteSACV1Policy.load(tmp_path / "policy.pth")
    # the Gaussian actor's arguments are not the softmax policy's
    assert not {"use_sde", "log_std_init", "use_expln", "clip_mean"} & set(built._get_constructor_parameters())
    assert (loaded.critic.n_critics, loaded.actor.activation_fn) == (3, th.nn.Tanh)
    for (name, saved), (loaded_name, restored) in zip(built.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert name == loaded_name and th.equal(saved, restored), name


def test_the_features_extractor_and_optimizer_arguments_reach_every_network():
    built = policy(
        features_extractor_class=LinearExtractor,
        features_extractor_kwargs={"features_dim": 5},
        optimizer_kwargs={"eps": 1e-5},
    )
    for part in (built.actor, built.critic):
        assert part.features_extractor.features_dim == 5 and part.optimizer.defaults["eps"] == 1e-5
