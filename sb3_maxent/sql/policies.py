"""
Policies for SoftQLearning.

Discrete actions: SB3's DQN networks, acting by the Boltzmann policy. Continuous actions: SB3's SAC critics
with an SVGD-trained amortised sampler in place of the Gaussian actor.
"""

from collections.abc import Mapping
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor, NatureCNN, create_mlp
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.dqn.policies import DQNPolicy
from stable_baselines3.sac.policies import SACPolicy
from torch import nn

from sb3_maxent.common import boltzmann
from sb3_maxent.common.ent_coef import Temperature
from sb3_maxent.common.optim import with_fused_optimizer


class DiscreteSoftQPolicy(DQNPolicy):
    r"""
    Soft Q network :math:`Q_\theta(s, \cdot)` and its target (SB3's ``QNetwork``), acting with the energy-based
    policy :math:`\pi(a|s) \propto \exp(Q_\theta(s,a)/\alpha)`.

    ``predict(obs, deterministic=False)`` samples from :math:`\pi`; ``deterministic=True`` takes
    :math:`\arg\max_a Q_\theta(s,a)` (the mode). :math:`\alpha` is read from the algorithm's
    :class:`~sb3_maxent.common.ent_coef.Temperature` (``temperature``, set by the algorithm): the policy keeps no
    copy. A policy loaded on its own, without an algorithm, acts greedily. Arguments are those of SB3's
    ``DQNPolicy`` (by keyword).
    """

    temperature: Temperature | None = None

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        **kwargs: Any,
    ):
        optimizer_class = kwargs.get("optimizer_class", th.optim.Adam)
        kwargs["optimizer_kwargs"] = with_fused_optimizer(optimizer_class, kwargs.get("optimizer_kwargs"))
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def boltzmann_log_probs(self, obs: PyTorchObs) -> th.Tensor:
        r""":math:`\log\pi(a|s) = (Q(s,a) - V(s))/\alpha`, shape (batch_size, n_actions)."""
        assert self.temperature is not None, "the policy samples at its algorithm's temperature"
        return boltzmann.log_probs(self.q_net(obs), self.temperature.value())

    def _predict(self, obs: PyTorchObs, deterministic: bool = True) -> th.Tensor:
        q_values = self.q_net(obs)
        if deterministic or self.temperature is None:
            return q_values.argmax(dim=1).reshape(-1)
        ent_coef = self.temperature.value()
        if ent_coef.item() == 0:
            return q_values.argmax(dim=1).reshape(-1)
        return boltzmann.gumbel_max_sample(boltzmann.logits(q_values, ent_coef))

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        # version 0.1 kept a copy of alpha in a buffer named ent_coef; alpha now lives in the algorithm's temperature
        state_dict = {key: value for key, value in state_dict.items() if key != "ent_coef"}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


DiscreteMlpPolicy = DiscreteSoftQPolicy


class DiscreteCnnPolicy(DiscreteSoftQPolicy):
    """:class:`DiscreteSoftQPolicy` with a ``NatureCNN`` features extractor (image observations)."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        *,
        features_extractor_class: type[BaseFeaturesExtractor] = NatureCNN,
        **kwargs: Any,
    ):
        kwargs["features_extractor_class"] = features_extractor_class
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class DiscreteMultiInputPolicy(DiscreteSoftQPolicy):
    """:class:`DiscreteSoftQPolicy` for ``Dict`` observations (``CombinedExtractor``)."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        *,
        features_extractor_class: type[BaseFeaturesExtractor] = CombinedExtractor,
        **kwargs: Any,
    ):
        kwargs["features_extractor_class"] = features_extractor_class
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class SVGDSampler(BasePolicy):
    r"""
    Amortised sampler of soft Q-learning: :math:`a = \tanh(f_\phi(s, \xi))`, :math:`\xi \sim \mathcal N(0, I)`.

    Trained by SVGD towards :math:`\pi(a|s) \propto \exp(Q(s,a)/\alpha)`. ``deterministic=True`` uses
    :math:`\xi = 0` (the sampler's "median" action, not necessarily a mode of :math:`\pi`).

    :param observation_space: Observation space
    :param action_space: Action space (``Box``)
    :param net_arch: hidden layers of :math:`f_\phi`
    :param features_extractor: Network to extract features
    :param features_dim: Number of features
    :param activation_fn: Activation function
    :param normalize_images: Whether to normalize images or not
    """

    action_space: spaces.Box

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: nn.Module,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
            squash_output=True,
        )
        self.net_arch = net_arch
        self.features_dim = features_dim
        self.activation_fn = activation_fn
        self.action_dim = get_action_dim(action_space)
        self.sampler_net = nn.Sequential(*create_mlp(features_dim + self.action_dim, self.action_dim, net_arch, activation_fn))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            net_arch=self.net_arch,
            features_dim=self.features_dim,
            activation_fn=self.activation_fn,
            features_extractor=self.features_extractor,
        )
        return data

    def sample(self, obs: PyTorchObs, n_particles: int | None = None, deterministic: bool = False) -> th.Tensor:
        """
        :param n_particles: ``None`` for one action per state, shape (batch_size, action_dim); else ``n_particles``
            actions per state, shape (batch_size, n_particles, action_dim)
        """
        features = self.extract_features(obs, self.features_extractor)
        if n_particles is not None:
            features = features[:, None, :].expand(-1, n_particles, -1)
        noise_shape = (*features.shape[:-1], self.action_dim)
        noise = (
            th.zeros(noise_shape, device=features.device) if deterministic else th.randn(noise_shape, device=features.device)
        )
        return th.tanh(self.sampler_net(th.cat([features, noise], dim=-1)))

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self.sample(obs, deterministic=deterministic)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self.sample(observation, deterministic=deterministic)


class ContinuousSoftQPolicy(SACPolicy):
    """
    Soft Q-learning with continuous actions: SB3's ``ContinuousCritic`` (``n_critics`` soft Q networks, with a
    target) and an :class:`SVGDSampler` in place of SAC's Gaussian actor. Arguments are SB3 ``SACPolicy``'s;
    gSDE does not apply (``use_sde`` must stay False), ``n_critics`` defaults to 1 as in the paper.
    """

    actor: SVGDSampler  # type: ignore[assignment]

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Box, lr_schedule: Schedule, **kwargs: Any):
        if kwargs.get("use_sde", False):
            raise ValueError("SoftQLearning samples with an SVGD sampler: use_sde is not supported")
        kwargs.setdefault("n_critics", 1)
        optimizer_class = kwargs.get("optimizer_class", th.optim.Adam)
        kwargs["optimizer_kwargs"] = with_fused_optimizer(optimizer_class, kwargs.get("optimizer_kwargs"))
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> SVGDSampler:  # type: ignore[override]
        kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        for gaussian_only in ("use_sde", "log_std_init", "use_expln", "clip_mean"):
            kwargs.pop(gaussian_only, None)
        return SVGDSampler(**kwargs).to(self.device)


ContinuousMlpPolicy = ContinuousSoftQPolicy


class ContinuousCnnPolicy(ContinuousSoftQPolicy):
    """:class:`ContinuousSoftQPolicy` with a ``NatureCNN`` features extractor."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Box, lr_schedule: Schedule, **kwargs: Any):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class ContinuousMultiInputPolicy(ContinuousSoftQPolicy):
    """:class:`ContinuousSoftQPolicy` for ``Dict`` observations."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Box, lr_schedule: Schedule, **kwargs: Any):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


# The names of version 0.2 (saved models name their policy class by module and name)
SoftQPolicy = DiscreteSoftQPolicy
MlpPolicy = DiscreteSoftQPolicy
CnnPolicy = DiscreteCnnPolicy
MultiInputPolicy = DiscreteMultiInputPolicy
