"""
Soft Q-Learning: one public name, two algorithms.

``SoftQLearning("MlpPolicy", env)`` builds :class:`~sb3_maxent.sql.discrete.DiscreteSoftQLearning` for ``Discrete``
actions (DQN-shaped, exact soft value) and :class:`~sb3_maxent.sql.continuous.ContinuousSoftQLearning` for ``Box``
actions (importance-sampled soft value, SVGD sampler), as the paper does. This module holds what the two share:
the constructor, the target network update, the temperature and what is saved.
"""

import warnings
from typing import Any, ClassVar, TypeVar

import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import get_parameters_by_name, polyak_update
from torch import nn

from sb3_maxent.common.dispatch import ActionSpaceDispatch
from sb3_maxent.common.ent_coef import Temperature, TemperatureAttributes
from sb3_maxent.common.linear import use_onednn_linear_layers
from sb3_maxent.common.saving import AtomicSaveMixin
from sb3_maxent.common.validation import (
    LossName,
    check_action_space_bounds,
    check_loaded_off_policy_hyperparameters,
    check_off_policy_hyperparameters,
    check_policy_class,
    user_stacklevel,
)
from sb3_maxent.sql.policies import ContinuousSoftQPolicy, DiscreteSoftQPolicy

SelfSoftQLearning = TypeVar("SelfSoftQLearning", bound="SoftQLearning")

# Arguments of one implementation only: given for the other action type, they are refused with the reason
DISCRETE_ONLY = {
    "loss": "the continuous algorithm regresses its critics with the paper's squared error",
    "max_grad_norm": "the continuous algorithm does not clip gradients, as the paper's",
    "target_entropy": "the SVGD sampler has no closed-form entropy, so the temperature of continuous actions is fixed",
    "exploration_final_eps": "it sets the entropy of a Boltzmann policy over discrete actions",
    "exploration_fraction": "it schedules the entropy of a Boltzmann policy over discrete actions",
    "exploration_initial_eps": "it schedules the entropy of a Boltzmann policy over discrete actions",
    "munchausen_coef": "the Munchausen bonus needs the exact log-probability of a finite action set's Boltzmann policy",
    "munchausen_clip": "the Munchausen bonus needs the exact log-probability of a finite action set's Boltzmann policy",
}
CONTINUOUS_ONLY = {
    "value_n_particles": "a finite action set has an exact soft value (no importance sampling)",
    "svgd_n_particles": "discrete actions are sampled from the Boltzmann policy itself (no SVGD sampler)",
    "svgd_update_ratio": "discrete actions are sampled from the Boltzmann policy itself (no SVGD sampler)",
}


class SoftQLearning(ActionSpaceDispatch, AtomicSaveMixin, TemperatureAttributes, OffPolicyAlgorithm):
    r"""
    Soft Q-Learning (SQL): Q-learning on the soft Bellman equation, acting with the energy-based policy
    :math:`\pi(a|s) \propto \exp(Q(s,a)/\alpha)`, for discrete and continuous actions.

    Paper: https://arxiv.org/abs/1702.08165 (Reinforcement Learning with Deep Energy-Based Policies).
    Original implementation: https://github.com/haarnoja/softqlearning

    ``SoftQLearning(policy, env, ...)`` returns a :class:`~sb3_maxent.sql.discrete.DiscreteSoftQLearning`
    (``Discrete`` actions: SB3 ``DQN``'s arguments and networks, exact soft value) or a
    :class:`~sb3_maxent.sql.continuous.ContinuousSoftQLearning` (``Box`` actions: importance-sampled soft value,
    SVGD sampler), chosen by the environment's action space (or, when loading without an environment, by the saved
    policy); both are ``SoftQLearning`` instances. An argument marked for one action type is refused, with the
    reason, when given for the other.

    Both update the target network every ``target_update_interval`` *environment* steps with coefficient ``tau``,
    as SB3's ``DQN`` does (SACV1, like SB3's ``SAC``, counts gradient steps). The defaults are DQN's for both; for
    continuous control pass SAC-like values (``zoo_configs/sql.yml``): ``tau=0.005``, ``target_update_interval=1``,
    ``train_freq=1``, ``batch_size=128``, ``learning_rate=3e-4``.

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: The learning rate, it can be a function of the current progress remaining (from 1 to 0)
    :param buffer_size: size of the replay buffer
    :param learning_starts: how many steps of the model to collect transitions for before learning starts
    :param batch_size: Minibatch size for each gradient update
    :param tau: the soft update coefficient of the target network (1 for a hard copy, 0 freezes it)
    :param gamma: the discount factor
    :param train_freq: Update the model every ``train_freq`` steps, or ``(n, "episode")``
    :param gradient_steps: How many gradient steps to do after each rollout (-1: as many as environment steps,
        0: collect without training)
    :param replay_buffer_class: Replay buffer class to use. If ``None``, it will be automatically selected.
    :param replay_buffer_kwargs: Keyword arguments to pass to the replay buffer on creation.
    :param optimize_memory_usage: Enable a memory efficient variant of the replay buffer
    :param n_steps: n-step returns (SB3's ``NStepReplayBuffer``)
    :param ent_coef: the temperature :math:`\alpha` in reward units. ``Discrete`` actions: :math:`\alpha \geq 0`, or
        ``"auto"`` / ``"auto_<init>"`` to learn it so that the Boltzmann policy's entropy meets ``target_entropy``.
        ``Box`` actions: a fixed :math:`\alpha > 0` (the inverse of the paper's reward scale; the SVGD sampler has no
        tractable :math:`\log\pi`, so ``"auto"`` is refused). ``None`` (the default): ``"auto_0.1"`` for ``Discrete``
        actions, learned from 0.1 towards DQN's final exploration (why: :doc:`/modules/sql`, "Defaults"), and
        ``0.01`` for ``Box`` actions (``zoo_configs/sql.yml`` sets it per task)
    :param target_update_interval: update the target network every ``target_update_interval`` environment steps
    :param target_entropy: (Discrete actions only) entropy target of a learned ``ent_coef``, in
        :math:`[0, \log|\mathcal A|)`; ``"auto"`` is the entropy of SB3 DQN's final epsilon-greedy policy,
        ``epsilon_greedy_entropy(0.05, n_actions)``. The bundled ``zoo_configs/sql.yml`` entries use the same
        function with their tuned DQN's final epsilon
    :param loss: (Discrete actions only) ``"huber"`` (SB3's DQN, the default) or ``"mse"``, the squared error
        :math:`(Q - t)^2` (the paper and the continuous algorithm regress on half of it,
        :func:`~sb3_maxent.common.losses.critic_loss_fn`)
    :param max_grad_norm: (Discrete actions only) The maximum value for the gradient clipping
    :param exploration_final_eps: (Discrete actions only) SB3 DQN's argument, with the same meaning for the
        Boltzmann policy: when given, ``target_entropy`` is the entropy of DQN's final epsilon-greedy policy,
        ``epsilon_greedy_entropy(eps, n_actions)`` (so a DQN configuration carries over)
    :param exploration_fraction: (Discrete actions only) SB3 DQN's argument, with the same meaning for the Boltzmann
        policy: when given (and > 0), the entropy target of the learned temperature follows DQN's exploration, the
        entropy of its epsilon-greedy policy while epsilon goes linearly from ``exploration_initial_eps`` to
        ``exploration_final_eps`` (default 0.05) over this fraction of training, capped at 0.98 log|A|
        (:func:`~sb3_maxent.common.ent_coef.epsilon_greedy_target_schedule`). ``None`` (the default): a constant
        target. A fixed ``ent_coef`` has no target and ignores it, as it ignores ``target_entropy``
    :param exploration_initial_eps: (Discrete actions only) SB3 DQN's argument: epsilon at the start of
        ``exploration_fraction``'s schedule
    :param munchausen_coef: (Discrete actions only) :math:`\alpha_m`: weight of the Munchausen bonus (Munchausen soft
        Q-learning, Vieillard et al. 2020, arXiv 2007.14430), which adds
        :math:`\alpha_m\,\mathrm{clip}(\alpha\log\bar\pi(a|s), l_0, 0)` to the reward of the target (see
        :func:`~sb3_maxent.sql.discrete.munchausen_bonus`). 0 (the default) turns it off, and training is then
        exactly Soft Q-Learning's; the paper uses 0.9. Needs ``ent_coef > 0`` (or learned)
    :param munchausen_clip: (Discrete actions only) :math:`l_0 \leq 0`, the lower clip of
        :math:`\alpha\log\bar\pi(a|s)` (paper: -1)
    :param value_n_particles: (Box actions only) uniform samples :math:`M` of the importance-sampled soft value
    :param svgd_n_particles: (Box actions only) particles per state of the SVGD update
    :param svgd_update_ratio: (Box actions only) fraction of the particles moved by the Stein direction
    :param stats_window_size: Window size for the rollout logging
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation
    :param verbose: Verbosity level: 0 for no output, 1 for info messages, 2 for debug messages
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run.
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    # the implementations' (DiscreteSoftQLearning: Discrete, ContinuousSoftQLearning: Box)
    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Discrete, spaces.Box)
    # each implementation's default ent_coef
    default_ent_coef: ClassVar[str | float]
    # MaxEntAlgorithm (common/protocol.py): discrete actions have a tractable entropy, the SVGD sampler has none
    policy_entropy_unavailable: ClassVar[str | None] = None
    temperature: Temperature
    ent_coef: str | float
    target_update_interval: int

    def __init__(
        self,
        policy: str | type[DiscreteSoftQPolicy] | type[ContinuousSoftQPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 32,
        tau: float = 1.0,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 4,
        gradient_steps: int = 1,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        ent_coef: str | float | None = None,
        target_update_interval: int = 10_000,
        target_entropy: str | float = "auto",
        loss: LossName = "huber",
        max_grad_norm: float = 10.0,
        exploration_final_eps: float | None = None,
        exploration_fraction: float | None = None,
        exploration_initial_eps: float = 1.0,
        munchausen_coef: float = 0.0,
        munchausen_clip: float = -1.0,
        value_n_particles: int = 16,
        svgd_n_particles: int = 16,
        svgd_update_ratio: float = 0.5,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
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
        # the implementation keeps its own (another's, when given, were refused with the reason)
        self._set_implementation_arguments(
            loss=loss,
            max_grad_norm=max_grad_norm,
            exploration_final_eps=exploration_final_eps,
            exploration_fraction=exploration_fraction,
            exploration_initial_eps=exploration_initial_eps,
            munchausen_coef=munchausen_coef,
            munchausen_clip=munchausen_clip,
            value_n_particles=value_n_particles,
            svgd_n_particles=svgd_n_particles,
            svgd_update_ratio=svgd_update_ratio,
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
            action_noise=None,
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
            sde_support=False,
            supported_action_spaces=self.supported_action_spaces,
            support_multi_env=True,
        )
        self.ent_coef = self.default_ent_coef if ent_coef is None else ent_coef
        # the temperature's argument ("auto" with Box actions, where it is refused); model.target_entropy is the
        # temperature's target (TemperatureAttributes)
        self._target_entropy_argument = target_entropy
        self.target_update_interval = target_update_interval
        self._n_calls = 0
        if _init_setup_model:
            self._setup_model()

    # set-up ------------------------------------------------------------------------------------------

    def _setup_model(self) -> None:
        check_policy_class(type(self), self.policy_class, (self.policy_base,))
        self._check_arguments()
        check_action_space_bounds(self.action_space)
        # the temperature first: a malformed or unusable ent_coef fails before any network is built
        self._setup_lr_schedule()
        # alpha, log alpha, their optimiser and the entropy target: one owner, exposed under SAC's attribute names
        self._adopt_loaded_target_entropy()
        self.temperature = Temperature(
            self.ent_coef, self._target_entropy_argument, self.action_space, self.device, self.lr_schedule(1)
        )
        self._set_target_entropy()
        self._check_temperature()
        super()._setup_model()
        # the policy's linear layers computed by oneDNN on x86 CPUs (common/linear.py: the same layers, faster)
        use_onednn_linear_layers(self.policy)
        self._create_aliases()
        online, target = self._online_and_target()
        # Running statistics (batch norm) are copied to the target, not averaged (SB3 GH #996)
        self.batch_norm_stats = get_parameters_by_name(online, ["running_"])
        self.batch_norm_stats_target = get_parameters_by_name(target, ["running_"])
        if self.n_envs > 1 and self.n_envs > self.target_update_interval:
            warnings.warn(
                "The number of environments used is greater than the target network update interval "
                f"({self.n_envs} > {self.target_update_interval}): the target network is updated after every "
                f"env.step(), i.e. every {self.n_envs} steps",
                stacklevel=user_stacklevel(),
            )

    def _check_arguments(self) -> None:
        """
        The constructor's checks, on the attributes. ``_setup_model`` runs them because SB3's ``load`` does not call
        the constructor: it sets the saved values, then ``custom_objects`` and its keyword arguments, as attributes
        and calls ``_setup_model``, which would otherwise train with ``gamma=7``. (The constructor has checked its
        arguments already, ``learning_rate=0`` included, which only ``load`` accepts.)
        """
        check_loaded_off_policy_hyperparameters(self)
        self._check_implementation_arguments(vars(self))

    def _check_temperature(self) -> None:
        """Refuse a temperature the implementation cannot use, before anything else is built."""

    def _set_target_entropy(self) -> None:
        """Let the implementation's own arguments set the temperature's target (none by default)."""

    def _create_aliases(self) -> None:
        raise NotImplementedError

    def _online_and_target(self) -> tuple[nn.Module, nn.Module]:
        """The network that trains and the target it bootstraps on."""
        raise NotImplementedError

    def _optimizer_names(self) -> list[str]:
        """The optimisers to save, as attribute paths."""
        raise NotImplementedError

    # training ----------------------------------------------------------------------------------------

    def _on_step(self) -> None:
        """Update the target network every ``target_update_interval`` environment steps (as SB3's DQN)."""
        self._n_calls += 1
        if self._n_calls % max(self.target_update_interval // self.n_envs, 1) == 0:
            online, target = self._online_and_target()
            polyak_update(online.parameters(), target.parameters(), self.tau)
            polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

    def learn(
        self: SelfSoftQLearning,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "SoftQLearning",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfSoftQLearning:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    # saving ------------------------------------------------------------------------------------------

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "temperature"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        temperature_state_dicts, temperature_tensors = self.temperature.torch_save_params()
        return ["policy", *self._optimizer_names(), *temperature_state_dicts], temperature_tensors
