"""Policies for SoftQLearning with discrete actions: SB3's DQN networks, acting by the Boltzmann policy."""

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor, NatureCNN
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.dqn.policies import DQNPolicy

from sb3_maxent.common.optim import with_fused_optimizer


class SoftQPolicy(DQNPolicy):
    """
    Soft Q network :math:`Q_\\theta(s, \\cdot)` and its target (SB3's ``QNetwork``), acting with the energy-based
    policy :math:`\\pi(a|s) \\propto \\exp(Q_\\theta(s,a)/\\alpha)`.

    ``predict(obs, deterministic=False)`` samples from :math:`\\pi`; ``deterministic=True`` takes
    :math:`\\arg\\max_a Q_\\theta(s,a)` (the mode). The temperature is a buffer, kept equal to the algorithm's
    ``ent_coef`` and saved with the policy. Arguments are those of SB3's ``DQNPolicy`` (by keyword).
    """

    ent_coef: th.Tensor

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
        self.register_buffer("ent_coef", th.tensor(1.0))

    def boltzmann_log_probs(self, obs: PyTorchObs) -> th.Tensor:
        """:math:`\\log\\pi(a|s) = (Q(s,a) - V(s))/\\alpha`, shape (batch_size, n_actions)."""
        return th.log_softmax(self.q_net(obs) / self.ent_coef, dim=1)

    def _predict(self, obs: PyTorchObs, deterministic: bool = True) -> th.Tensor:
        q_values = self.q_net(obs)
        if deterministic or bool((self.ent_coef == 0).item()):
            return q_values.argmax(dim=1).reshape(-1)
        return th.distributions.Categorical(logits=q_values / self.ent_coef).sample()


MlpPolicy = SoftQPolicy


class CnnPolicy(SoftQPolicy):
    """:class:`SoftQPolicy` with a ``NatureCNN`` features extractor (image observations)."""

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


class MultiInputPolicy(SoftQPolicy):
    """:class:`SoftQPolicy` for ``Dict`` observations (``CombinedExtractor``)."""

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
