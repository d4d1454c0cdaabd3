r"""
SACV1: one public name, two algorithms.

``SACV1(policy, env)`` builds :class:`~sb3_maxent.sacv1.continuous.ContinuousSACV1` for ``Box`` actions (the paper's
reparameterised tanh-Gaussian policy) and :class:`~sb3_maxent.sacv1.discrete.DiscreteSACV1` for ``Discrete`` actions
(a softmax policy and exact sums over actions, Christodoulou 2019). This module holds what the two share: the
constructor, the update loop, the soft Q and value regressions and what is saved.
"""

from collections import defaultdict
from contextlib import AbstractContextManager
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BaseModel, BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, ReplayBufferSamples, Schedule
from stable_baselines3.common.utils import get_parameters_by_name, polyak_update
from torch.nn import functional as F

from sb3_maxent.common.dispatch import ActionSpaceDispatch
from sb3_maxent.common.ent_coef import Temperature, TemperatureAttributes
from sb3_maxent.common.linear import use_onednn_linear_layers
from sb3_maxent.common.saving import AtomicSaveMixin
from sb3_maxent.common.torch_utils import host_values
from sb3_maxent.common.validation import (
    LossName,
    check_action_space_bounds,
    check_finite_losses,
    check_loaded_off_policy_hyperparameters,
    check_loss_name,
    check_off_policy_hyperparameters,
    check_policy_class,
    diverged_network_blamed_for_errors,
    environment_data_blamed_for_errors,
)
from sb3_maxent.sacv1.policies import BaseSACV1Policy, StateValueNetwork

SelfSACV1 = TypeVar("SelfSACV1", bound="SACV1")


LOSS_KEYS = ("value_loss", "critic_loss", "actor_loss", "ent_coef_loss")


class StepLosses(NamedTuple):
    """The losses of one gradient step and what its logged statistics are computed from (in that order)."""

    value_loss: th.Tensor
    critic_loss: th.Tensor
    actor_loss: th.Tensor
    ent_coef_loss: th.Tensor | None
    ent_coef: th.Tensor
    # log pi(a|s) of a sampled action (continuous), or minus the exact entropy (discrete): its mean is -H
    log_prob_pi: th.Tensor
    q_values: tuple[th.Tensor, ...]
    values: th.Tensor


def value_loss_fn(values: th.Tensor, target: th.Tensor) -> th.Tensor:
    r""":math:`J_V(\psi) = \mathbb{E}[\tfrac12 (V_\psi(s) - \hat V(s))^2]` (SAC v1, eq. 5)."""
    return 0.5 * F.mse_loss(values, target)


class SACV1(ActionSpaceDispatch, AtomicSaveMixin, TemperatureAttributes, OffPolicyAlgorithm):
    r"""
    Soft Actor-Critic, original version (SAC v1), with a soft state-value network, for ``Box`` and ``Discrete``
    actions.

    Off-Policy Maximum Entropy Deep Reinforcement Learning with a Stochastic Actor.
    Paper: https://arxiv.org/abs/1801.01290
    Original implementation: https://github.com/haarnoja/sac

    ``SACV1(policy, env, ...)`` returns a :class:`~sb3_maxent.sacv1.continuous.ContinuousSACV1` (``Box`` actions:
    SB3 ``SAC``'s tanh-Gaussian actor) or a :class:`~sb3_maxent.sacv1.discrete.DiscreteSACV1` (``Discrete`` actions:
    a softmax policy, Christodoulou 2019), chosen by the environment's action space (or, when loading without an
    environment, by the saved policy); both are ``SACV1`` instances and take the arguments below.

    Uses SB3 ``SAC`` as a base (same arguments, actor and critics); it differs where SAC v1 does: the soft Q networks
    bootstrap on a target *state-value* network, :math:`\hat Q(s,a) = r + \gamma (1 - d) V_{\bar\psi}(s')`, instead
    of twin target Q networks, and :math:`V_\psi` regresses the soft value of the current policy. As in the paper's
    implementation, the losses of a gradient step (value, critics, actor, and the temperature's when it is learned)
    are evaluated at the same parameters and applied together. The paper fixes :math:`\alpha` through a reward scale
    (:math:`\alpha = 1/\text{reward scale}`); ``ent_coef`` sets it directly, or learns it (``"auto"``) by the dual
    gradient descent of SAC v2.

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, ...)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: learning rate for adam optimizer, the same for all networks
        (Q-values, actor, value function); it can be a function of the current progress remaining (from 1 to 0)
    :param buffer_size: size of the replay buffer
    :param learning_starts: how many steps of the model to collect transitions for before learning starts
    :param batch_size: Minibatch size for each gradient update
    :param tau: the soft update coefficient of the value target ("Polyak update", in [0, 1]; 0 freezes it)
    :param gamma: the discount factor
    :param train_freq: Update the model every ``train_freq`` steps. Alternatively pass a tuple of frequency and unit
        like ``(5, "step")`` or ``(2, "episode")``.
    :param gradient_steps: How many gradient steps to do after each rollout (see ``train_freq``).
        ``-1`` means as many gradient steps as steps done in the environment during the rollout.
    :param action_noise: the action noise type (None by default). (Box actions only: a softmax policy explores by
        sampling)
    :param replay_buffer_class: Replay buffer class to use (for instance ``HerReplayBuffer``).
        If ``None``, it will be automatically selected.
    :param replay_buffer_kwargs: Keyword arguments to pass to the replay buffer on creation.
    :param optimize_memory_usage: Enable a memory efficient variant of the replay buffer
    :param n_steps: n-step returns for the Q target (uses SB3's ``NStepReplayBuffer``), see SB3 ``SAC``
    :param ent_coef: Entropy regularization coefficient :math:`\alpha` (the inverse of the paper's reward scale).
        A float, ``"auto"`` to learn it, or ``"auto_0.1"`` to learn it starting from 0.1.
    :param target_update_interval: update the value target every ``target_update_interval`` gradient steps.
    :param target_entropy: target entropy when learning ``ent_coef``; ``"auto"``: :math:`-\dim(\mathcal{A})` for
        ``Box`` actions, the entropy of SB3 DQN's final epsilon-greedy policy (:math:`\epsilon = 0.05`) for
        ``Discrete`` actions (see :class:`~sb3_maxent.sacv1.discrete.DiscreteSACV1`)
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE)
        instead of action noise exploration (default: False). (Box actions only)
    :param sde_sample_freq: Sample a new noise matrix every n steps when using gSDE
        Default: -1 (only sample at the beginning of the rollout)
    :param use_sde_at_warmup: Whether to use gSDE instead of uniform sampling
        during the warm up phase (before learning starts). (Box actions only)
    :param stats_window_size: Window size for the rollout logging, specifying the number of episodes to average
        the reported success rate, mean episode length, and mean reward over
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation
    :param verbose: Verbosity level: 0 for no output, 1 for info messages, 2 for debug messages
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run.
        Setting it to auto, the code will be run on the GPU if possible.
    :param loss: the critics' regression loss: ``"mse"`` (the paper's squared error) or ``"huber"`` (SB3 DQN's
        smooth L1; the bundled discrete LunarLander-v3 entry uses it)
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    # the implementations' (ContinuousSACV1: Box, DiscreteSACV1: Discrete)
    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Box, spaces.Discrete)
    # MaxEntAlgorithm (common/protocol.py): both policies have a tractable entropy (policy_entropy)
    policy_entropy_unavailable: ClassVar[str | None] = None
    policy_base: ClassVar[type[BaseSACV1Policy]]
    policy: BaseSACV1Policy
    actor: BasePolicy
    critic: BaseModel
    value_net: StateValueNetwork
    value_target: StateValueNetwork

    def __init__(
        self,
        policy: str | type[BaseSACV1Policy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        buffer_size: int = 1_000_000,  # 1e6
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        ent_coef: str | float = "auto",
        target_update_interval: int = 1,
        target_entropy: str | float = "auto",
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        use_sde_at_warmup: bool = False,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        loss: LossName = "mse",
        _init_setup_model: bool = True,
    ):
        check_loss_name(loss)
        check_off_policy_hyperparameters(
            tau=tau,
            gamma=gamma,
            batch_size=batch_size,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            gradient_steps=gradient_steps,
            target_update_interval=target_update_interval,
            learning_rate=learning_rate,
        )
        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            use_sde_at_warmup=use_sde_at_warmup,
            supported_action_spaces=self.supported_action_spaces,
            support_multi_env=True,
        )

        # the argument: model.target_entropy is the temperature's target (TemperatureAttributes)
        self._target_entropy_argument = target_entropy
        self.ent_coef = ent_coef
        self.loss = loss
        self.target_update_interval = target_update_interval

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        check_policy_class(type(self), self.policy_class, (self.policy_base,))
        self._check_arguments()
        check_action_space_bounds(self.action_space)
        # the temperature first: a malformed ent_coef or target_entropy fails before any network is built
        self._setup_lr_schedule()
        # alpha, log alpha, their optimiser and the entropy target: one owner, exposed under SAC's attribute names
        self._adopt_loaded_target_entropy()
        self.temperature = Temperature(
            self.ent_coef, self._target_entropy_argument, self.action_space, self.device, self.lr_schedule(1)
        )
        super()._setup_model()
        # the policy's linear layers computed by oneDNN on x86 CPUs (common/linear.py: the same layers, faster)
        use_onednn_linear_layers(self.policy)
        self._create_aliases()
        # Running statistics (batch norm) are copied to the target, not averaged (SB3 GH #996)
        self.batch_norm_stats = get_parameters_by_name(self.value_net, ["running_"])
        self.batch_norm_stats_target = get_parameters_by_name(self.value_target, ["running_"])

    def _check_arguments(self) -> None:
        """
        The constructor's checks, on the attributes. ``_setup_model`` runs them because SB3's ``load`` does not call
        the constructor: it sets the saved values, then ``custom_objects`` and its keyword arguments, as attributes
        and calls ``_setup_model``, which would otherwise train with ``gamma=7``. (The constructor has checked its
        arguments already, ``learning_rate=0`` included, which only ``load`` accepts.)
        """
        check_loss_name(self.loss)
        check_loaded_off_policy_hyperparameters(self)
        self._check_implementation_arguments(vars(self))

    def _create_aliases(self) -> None:
        self.actor = self.policy.actor
        self.critic = self.policy.critic
        self.value_net = self.policy.value_net
        self.value_target = self.policy.value_target

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(
            [self.actor.optimizer, self.critic.optimizer, self.value_net.optimizer, *self.temperature.optimizers()]
        )

        logs: dict[str, list[float]] = defaultdict(list)

        for gradient_step in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            # For n-step replay, the discount is gamma ** n (when no early termination)
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
            losses = self._step_losses(replay_data, discounts, self._n_updates + gradient_step)

            # One host sync for every statistic of the step (a .item() per value costs more on GPU)
            stats = self._step_statistics(*losses)
            check_finite_losses(
                {key: stats[key] for key in LOSS_KEYS if key in stats},
                n_updates=self._n_updates + gradient_step,
                num_timesteps=self.num_timesteps,
                replay_data=replay_data,
            )

            self._apply_gradients(losses.actor_loss, losses.critic_loss, losses.value_loss, losses.ent_coef_loss)

            if gradient_step % self.target_update_interval == 0:
                # psi_bar <- tau psi + (1 - tau) psi_bar
                polyak_update(self.value_net.parameters(), self.value_target.parameters(), self.tau)
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

            for key, value in stats.items():
                logs[key].append(value)

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        for key, values_list in logs.items():
            self.logger.record(f"train/{key}", np.mean(values_list))

    def _step_losses(self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, n_update: int) -> StepLosses:
        """The losses of one gradient step on a replay batch, all at the current parameters (each implementation's)."""
        raise NotImplementedError

    @staticmethod
    def _step_statistics(
        value_loss: th.Tensor,
        critic_loss: th.Tensor,
        actor_loss: th.Tensor,
        ent_coef_loss: th.Tensor | None,
        ent_coef: th.Tensor,
        log_prob_pi: th.Tensor,
        q_values: tuple[th.Tensor, ...],
        values: th.Tensor,
    ) -> dict[str, float]:
        named = {
            "value_loss": value_loss,
            "critic_loss": critic_loss,
            "actor_loss": actor_loss,
            "ent_coef": ent_coef.reshape(()),
            "entropy": -log_prob_pi.mean(),
            # Soft-value magnitudes: where a soft method's blow-up shows first
            "q_values": q_values[0].mean(),
            "values": values.mean(),
        }
        if ent_coef_loss is not None:
            named["ent_coef_loss"] = ent_coef_loss
        return host_values(named)

    def _apply_gradients(
        self, actor_loss: th.Tensor, critic_loss: th.Tensor, value_loss: th.Tensor, ent_coef_loss: th.Tensor | None
    ) -> None:
        """
        Apply the losses of one gradient step together, all evaluated at the same parameters.

        Their graphs touch disjoint parameters (the critics are frozen on the policy's path, a shared
        features extractor is only reached through the actor), so one backward pass of their sum gives
        each network exactly the gradient of its own loss.
        """
        optimizers = [self.actor.optimizer, self.critic.optimizer, self.value_net.optimizer]
        total_loss = actor_loss + critic_loss + value_loss
        if ent_coef_loss is not None and self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
            total_loss = total_loss + ent_coef_loss
        for optimizer in optimizers:
            optimizer.zero_grad()
        total_loss.backward()
        for optimizer in optimizers:
            optimizer.step()

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        # the actor's Gaussian refuses a NaN mean: say when the observation it was given is the cause
        with (
            self._diverged_actor_blamed_for_errors(self._n_updates),
            environment_data_blamed_for_errors("the observation from the environment", observations=self._last_obs),
        ):
            return super()._sample_action(learning_starts, action_noise, n_envs)

    def _diverged_actor_blamed_for_errors(self, n_updates: int) -> AbstractContextManager[None]:
        # an actor gone to inf/NaN makes torch's Normal refuse its mean: say that training diverged
        return diverged_network_blamed_for_errors("the actor", n_updates=n_updates, num_timesteps=self.num_timesteps)

    def learn(
        self: SelfSACV1,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "SACV1",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfSACV1:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "actor", "critic", "value_net", "value_target", "temperature"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        temperature_state_dicts, temperature_tensors = self.temperature.torch_save_params()
        state_dicts = ["policy", "actor.optimizer", "critic.optimizer", "value_net.optimizer", *temperature_state_dicts]
        return state_dicts, temperature_tensors
