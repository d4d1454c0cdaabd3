"""Policies for SACV1: an actor, soft Q networks and a state-value network with its target, for Box (SB3's SAC actor and
critics) and Discrete actions (softmax actor, one Q output per action)."""

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel, BasePolicy
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
    create_mlp,
)
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.sac.policies import SACPolicy
from torch import nn

from sb3_maxent.common.optim import with_fused_optimizer


class StateValueNetwork(BaseModel):
    r"""
    Soft state-value network :math:`V_\psi(s)` of the original SAC.

    It regresses :math:`V(s) = \mathbb{E}_{a\sim\pi}[Q(s,a) - \alpha \log \pi(a|s)]`.

    :param observation_space: Observation space
    :param action_space: Action space (unused by the network, kept for SB3's save/load machinery)
    :param net_arch: Hidden layer sizes
    :param features_extractor: Network to extract features
    :param features_dim: Number of features
    :param activation_fn: Activation function
    :param normalize_images: Whether to divide images by 255
    :param share_features_extractor: Whether the features extractor is the actor's; it is then trained
        by the policy loss only, as SB3 does for its critics
    """

    features_extractor: BaseFeaturesExtractor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        share_features_extractor: bool = False,
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
        )
        self.share_features_extractor = share_features_extractor
        self.v_net = nn.Sequential(*create_mlp(features_dim, 1, net_arch, activation_fn))

    def forward(self, obs: PyTorchObs) -> th.Tensor:
        r"""
        :param obs: a batch of observations
        :return: :math:`V_\psi(s)`, shape (batch_size, 1)
        """
        with th.set_grad_enabled(th.is_grad_enabled() and not self.share_features_extractor):
            features = self.extract_features(obs, self.features_extractor)
        return self.v_net(features)


def split_value_arch(net_arch: list[int] | dict[str, list[int]] | None) -> tuple[list[int] | dict[str, list[int]], list[int]]:
    """
    Separate the value network's architecture from SB3's actor/critic ``net_arch``.

    ``net_arch`` is either a list (all networks alike) or ``dict(pi=..., qf=..., vf=...)``; without ``vf``
    the value network takes the critic's (``qf``) layers, as in the paper where V and Q have the same size.

    :param net_arch: the user's ``net_arch``
    :return: ``net_arch`` for SB3's ``SACPolicy`` (without ``vf``) and the value network's layers
    """
    if net_arch is None:
        net_arch = [256, 256]
    if isinstance(net_arch, list):
        return net_arch, net_arch
    if not isinstance(net_arch, dict) or "pi" not in net_arch or "qf" not in net_arch:
        raise ValueError(
            f"net_arch must be a list of ints or a dict with keys 'pi', 'qf' (and optionally 'vf'), got {net_arch}"
        )
    unknown = set(net_arch) - {"pi", "qf", "vf"}
    if unknown:
        raise ValueError(f"net_arch has unknown keys {sorted(unknown)}; expected 'pi', 'qf' and optionally 'vf'")
    actor_critic_arch = {"pi": net_arch["pi"], "qf": net_arch["qf"]}
    return actor_critic_arch, net_arch.get("vf", net_arch["qf"])


class BaseSACV1Policy(SACPolicy):
    r"""
    The networks of both SACV1 implementations: an actor and ``n_critics`` soft Q networks without a target
    (``make_actor``, ``make_critic``: SB3 ``SACPolicy``'s in :class:`ContinuousSACV1Policy`, softmax and one output
    per action in :class:`DiscreteSACV1Policy`), and a state-value network :math:`V_\psi` with its Polyak target
    :math:`V_{\bar\psi}`.

    :param observation_space: Observation space
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule (could be constant)
    :param net_arch: Layers of the networks: a list for all, or ``dict(pi=[...], qf=[...], vf=[...])``
        (``vf`` defaults to ``qf``)
    :param activation_fn: Activation function
    :param use_sde: Whether to use State Dependent Exploration or not
    :param log_std_init: Initial value for the log standard deviation
    :param use_expln: Use ``expln()`` function instead of ``exp()`` when using gSDE
    :param clip_mean: Clip the mean output when using gSDE to avoid numerical instability.
    :param features_extractor_class: Features extractor to use.
    :param features_extractor_kwargs: Keyword arguments to pass to the features extractor.
    :param normalize_images: Whether to normalize images or not, dividing by 255.0 (True by default)
    :param optimizer_class: The optimizer to use, ``th.optim.Adam`` by default
    :param optimizer_kwargs: Additional keyword arguments, excluding the learning rate, to pass to the optimizer
    :param n_critics: Number of soft Q networks (2 in the paper)
    :param share_features_extractor: Whether to share the features extractor between the actor, the critics
        and the value network (it is then trained by the policy loss only)
    """

    value_net: StateValueNetwork
    value_target: StateValueNetwork

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        use_sde: bool = False,
        log_std_init: float = -3,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
    ):
        if n_critics < 1:
            raise ValueError(f"n_critics must be >= 1, got {n_critics}")
        actor_critic_arch, value_arch = split_value_arch(net_arch)
        optimizer_kwargs = with_fused_optimizer(optimizer_class, optimizer_kwargs)
        # Read by ``_build``, which SACPolicy.__init__ calls
        self.value_kwargs: dict[str, Any] = {
            "observation_space": observation_space,
            "action_space": action_space,
            "net_arch": value_arch,
            "activation_fn": activation_fn,
            "normalize_images": normalize_images,
            "share_features_extractor": share_features_extractor,
        }
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            actor_critic_arch,
            activation_fn,
            use_sde,
            log_std_init,
            use_expln,
            clip_mean,
            features_extractor_class,
            features_extractor_kwargs,
            normalize_images,
            optimizer_class,
            optimizer_kwargs,
            n_critics,
            share_features_extractor,
        )
        # Keep the user's net_arch (with "vf") so that save/load rebuilds the same networks
        self.net_arch = net_arch if net_arch is not None else [256, 256]

    def _build(self, lr_schedule: Schedule) -> None:
        self.actor = self.make_actor()
        self.actor.optimizer = self._make_optimizer(self.actor.parameters(), lr_schedule)

        shared_extractor = self.actor.features_extractor if self.share_features_extractor else None
        self.critic = self.make_critic(features_extractor=shared_extractor)
        self.critic.optimizer = self._make_optimizer(self._own_parameters(self.critic), lr_schedule)

        self.value_net = self.make_value_net(features_extractor=shared_extractor)
        self.value_net.optimizer = self._make_optimizer(self._own_parameters(self.value_net), lr_schedule)

        # The target never shares the features extractor, and is only moved by Polyak averaging
        self.value_target = self.make_value_net(features_extractor=None)
        self.value_target.load_state_dict(self.value_net.state_dict())
        self.value_target.set_training_mode(False)
        self.value_target.requires_grad_(False)

    def _make_optimizer(self, parameters: Any, lr_schedule: Schedule) -> th.optim.Optimizer:
        return self.optimizer_class(parameters, lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[call-arg]

    def _own_parameters(self, module: nn.Module) -> list[nn.Parameter]:
        # A shared features extractor is trained by the policy loss only (SB3 convention)
        if self.share_features_extractor:
            return [param for name, param in module.named_parameters() if "features_extractor" not in name]
        return list(module.parameters())

    def make_value_net(self, features_extractor: BaseFeaturesExtractor | None = None) -> StateValueNetwork:
        value_kwargs = self._update_features_extractor(self.value_kwargs, features_extractor)
        return StateValueNetwork(**value_kwargs).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # SACPolicy's records our net_arch (with "vf"), not this
        data.update(share_features_extractor=self.share_features_extractor)
        return data

    def set_training_mode(self, mode: bool) -> None:
        super().set_training_mode(mode)
        self.value_net.set_training_mode(mode)


class ContinuousSACV1Policy(BaseSACV1Policy):
    """
    Policy class for SACV1 with ``Box`` actions, as in the paper: SB3's tanh-Gaussian ``Actor`` (gSDE included),
    ``n_critics`` soft Q networks (``ContinuousCritic``, without a target) and the state-value network with its
    Polyak target. Arguments: :class:`BaseSACV1Policy`'s.
    """


ContinuousMlpPolicy = ContinuousSACV1Policy


class ContinuousCnnPolicy(ContinuousSACV1Policy):
    """:class:`ContinuousSACV1Policy` with a ``NatureCNN`` features extractor (image observations)."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        *,
        features_extractor_class: type[BaseFeaturesExtractor] = NatureCNN,
        **kwargs: Any,
    ):
        kwargs["features_extractor_class"] = features_extractor_class
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class ContinuousMultiInputPolicy(ContinuousSACV1Policy):
    """:class:`ContinuousSACV1Policy` for ``Dict`` observations (``CombinedExtractor``)."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        *,
        features_extractor_class: type[BaseFeaturesExtractor] = CombinedExtractor,
        **kwargs: Any,
    ):
        kwargs["features_extractor_class"] = features_extractor_class
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


# Discrete actions (Christodoulou 2019, arXiv 1910.07207) ------------------------------------------------------

# SACPolicy's arguments of the tanh-Gaussian actor, which a softmax policy has no use for
GAUSSIAN_ACTOR_ARGUMENTS = ("use_sde", "log_std_init", "use_expln", "clip_mean")


class DiscreteActor(BasePolicy):
    r"""
    Softmax policy over a finite action set, :math:`\pi_\phi(a|s) = \mathrm{softmax}(f_\phi(s))_a`
    (discrete SAC, Christodoulou 2019): every expectation over actions is an exact sum, so nothing is
    reparameterised and there is no action squashing.

    :param observation_space: Observation space
    :param action_space: ``Discrete`` action space
    :param net_arch: Hidden layer sizes
    :param features_extractor: Network to extract features
    :param features_dim: Number of features
    :param activation_fn: Activation function
    :param normalize_images: Whether to divide images by 255
    """

    action_space: spaces.Discrete

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
        )
        self.net_arch = net_arch
        self.features_dim = features_dim
        self.activation_fn = activation_fn
        self.logits_net = nn.Sequential(*create_mlp(features_dim, int(action_space.n), net_arch, activation_fn))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            net_arch=self.net_arch,
            features_dim=self.features_dim,
            activation_fn=self.activation_fn,
            features_extractor=self.features_extractor,
        )
        return data

    def action_log_probs(self, obs: PyTorchObs) -> th.Tensor:
        r"""
        :param obs: a batch of observations
        :return: :math:`\log\pi_\phi(\cdot|s)`, shape (batch_size, n_actions)
        """
        features = self.extract_features(obs, self.features_extractor)
        return th.log_softmax(self.logits_net(features), dim=1)

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        r"""
        :return: the most probable action (``deterministic``) or one drawn from :math:`\pi_\phi(\cdot|s)`;
            torch's ``Categorical`` refuses non-finite probabilities, which the algorithm reports as divergence
        """
        log_probs = self.action_log_probs(obs)
        if deterministic:
            return log_probs.argmax(dim=1)
        return th.distributions.Categorical(logits=log_probs).sample()

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self(observation, deterministic)


class DiscreteCritic(BaseModel):
    r"""
    ``n_critics`` soft Q networks for a finite action set, each giving :math:`Q_{\theta_i}(s, \cdot)` for every
    action in one pass (DQN's ``QNetwork`` head; the discrete counterpart of SB3's ``ContinuousCritic``).

    :param observation_space: Observation space
    :param action_space: ``Discrete`` action space
    :param net_arch: Hidden layer sizes
    :param features_extractor: Network to extract features
    :param features_dim: Number of features
    :param activation_fn: Activation function
    :param normalize_images: Whether to divide images by 255
    :param n_critics: Number of Q networks
    :param share_features_extractor: Whether the features extractor is the actor's; it is then trained by the
        policy loss only, as SB3 does for its critics
    """

    features_extractor: BaseFeaturesExtractor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = False,
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
        )
        self.share_features_extractor = share_features_extractor
        self.n_critics = n_critics
        self.q_networks: list[nn.Module] = []
        for index in range(n_critics):
            q_net = nn.Sequential(*create_mlp(features_dim, int(action_space.n), net_arch, activation_fn))
            self.add_module(f"qf{index}", q_net)
            self.q_networks.append(q_net)

    def forward(self, obs: PyTorchObs) -> tuple[th.Tensor, ...]:
        r"""
        :param obs: a batch of observations
        :return: :math:`Q_{\theta_i}(s, \cdot)` for each critic, each of shape (batch_size, n_actions)
        """
        with th.set_grad_enabled(th.is_grad_enabled() and not self.share_features_extractor):
            features = self.extract_features(obs, self.features_extractor)
        return tuple(q_net(features) for q_net in self.q_networks)


class DiscreteSACV1Policy(BaseSACV1Policy):
    r"""
    Policy class for SACV1 with ``Discrete`` actions: a softmax actor (:class:`DiscreteActor`), ``n_critics`` soft
    Q networks with one output per action (:class:`DiscreteCritic`), and the state-value network :math:`V_\psi` with
    its Polyak target, as :class:`ContinuousSACV1Policy`.

    :param observation_space: Observation space
    :param action_space: ``Discrete`` action space
    :param lr_schedule: Learning rate schedule (could be constant)
    :param net_arch: Layers of the networks: a list for all, or ``dict(pi=[...], qf=[...], vf=[...])``
        (``vf`` defaults to ``qf``)
    :param activation_fn: Activation function
    :param features_extractor_class: Features extractor to use.
    :param features_extractor_kwargs: Keyword arguments to pass to the features extractor.
    :param normalize_images: Whether to normalize images or not, dividing by 255.0 (True by default)
    :param optimizer_class: The optimizer to use, ``th.optim.Adam`` by default
    :param optimizer_kwargs: Additional keyword arguments, excluding the learning rate, to pass to the optimizer
    :param n_critics: Number of soft Q networks
    :param share_features_extractor: Whether to share the features extractor between the actor, the critics
        and the value network (it is then trained by the policy loss only)
    :param use_sde: SB3 passes it to every off-policy policy; only ``False`` has a meaning for discrete actions
    """

    actor: DiscreteActor  # type: ignore[assignment]
    critic: DiscreteCritic  # type: ignore[assignment]

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        use_sde: bool = False,
    ):
        if use_sde:
            raise ValueError("use_sde: gSDE explores in a continuous action space; with Discrete actions pass use_sde=False")
        super().__init__(
            observation_space,
            action_space,  # type: ignore[arg-type]
            lr_schedule,
            net_arch=net_arch,
            activation_fn=activation_fn,
            features_extractor_class=features_extractor_class,
            features_extractor_kwargs=features_extractor_kwargs,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            n_critics=n_critics,
            share_features_extractor=share_features_extractor,
        )

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> DiscreteActor:  # type: ignore[override]
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        for name in GAUSSIAN_ACTOR_ARGUMENTS:
            actor_kwargs.pop(name)
        return DiscreteActor(**actor_kwargs).to(self.device)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> DiscreteCritic:  # type: ignore[override]
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return DiscreteCritic(**critic_kwargs).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        for name in GAUSSIAN_ACTOR_ARGUMENTS:
            data.pop(name)
        return data

    def reset_noise(self, batch_size: int = 1) -> None:
        raise ValueError("gSDE exploration noise is for Box actions: a softmax policy over discrete actions has none")


DiscreteMlpPolicy = DiscreteSACV1Policy


class DiscreteCnnPolicy(DiscreteSACV1Policy):
    """Discrete SACV1 policy with a ``NatureCNN`` features extractor; see :class:`DiscreteSACV1Policy`."""

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


class DiscreteMultiInputPolicy(DiscreteSACV1Policy):
    """Discrete SACV1 policy for ``Dict`` observations (``CombinedExtractor``); see :class:`DiscreteSACV1Policy`."""

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


# The names of version 0.2 (saved models name their policy class by module and name)
SACV1Policy = ContinuousSACV1Policy
MlpPolicy = ContinuousSACV1Policy
CnnPolicy = ContinuousCnnPolicy
MultiInputPolicy = ContinuousMultiInputPolicy
