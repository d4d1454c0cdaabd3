"""
Soft Q-Learning: one public name, two algorithms.

``SoftQLearning("MlpPolicy", env)`` builds :class:`~sb3_maxent.sql.discrete.DiscreteSoftQLearning` for ``Discrete``
actions (DQN-shaped, exact soft value) and :class:`~sb3_maxent.sql.continuous.ContinuousSoftQLearning` for ``Box``
actions (importance-sampled soft value, SVGD sampler), as the paper does. This module holds what the two share:
the choice, the target network update, the temperature and what is saved.
"""

import inspect
import warnings
from typing import Any, ClassVar, TypeVar

from gymnasium import spaces
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import MaybeCallback
from stable_baselines3.common.utils import get_parameters_by_name, polyak_update
from torch import nn

from sb3_maxent.common.action_spaces import action_space_of
from sb3_maxent.common.ent_coef import Temperature, TemperatureAttributes
from sb3_maxent.common.saving import AtomicSaveMixin
from sb3_maxent.common.validation import (
    check_action_space_bounds,
    check_loaded_off_policy_hyperparameters,
    check_policy_class,
    user_stacklevel,
)

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


class SoftQLearning(AtomicSaveMixin, TemperatureAttributes, OffPolicyAlgorithm):
    """
    Soft Q-Learning (SQL): Q-learning on the soft Bellman equation, acting with the energy-based policy
    :math:`\\pi(a|s) \\propto \\exp(Q(s,a)/\\alpha)`, for discrete and continuous actions.

    Paper: https://arxiv.org/abs/1702.08165 (Reinforcement Learning with Deep Energy-Based Policies).
    Original implementation: https://github.com/haarnoja/softqlearning

    ``SoftQLearning(policy, env, ...)`` returns a :class:`~sb3_maxent.sql.discrete.DiscreteSoftQLearning`
    (``Discrete`` actions: SB3 ``DQN``'s arguments) or a :class:`~sb3_maxent.sql.continuous.ContinuousSoftQLearning`
    (``Box`` actions: SVGD sampler), chosen by the environment's action space (or, when loading without an
    environment, by the saved policy); both are ``SoftQLearning`` instances. See those classes for the arguments;
    an argument of the other implementation is refused with the reason.

    Both update the target network every ``target_update_interval`` *environment* steps with coefficient ``tau``,
    as SB3's ``DQN`` does (SACV1, like SB3's ``SAC``, counts gradient steps).
    """

    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Discrete, spaces.Box)
    # the policy class every policy of an implementation derives from
    policy_base: ClassVar[type] = BasePolicy
    temperature: Temperature
    ent_coef: str | float
    target_entropy: str | float
    target_update_interval: int

    def __new__(cls, *args: Any, **kwargs: Any) -> "SoftQLearning":
        if cls is not SoftQLearning:
            return super().__new__(cls)
        policy = args[0] if args else kwargs.get("policy")
        env = args[1] if len(args) > 1 else kwargs.get("env")
        implementation = _implementation_for(policy, env)
        _refuse_arguments_of_the_other_implementation(implementation, kwargs)
        return super().__new__(implementation)

    def __init__(self, *args: Any, **kwargs: Any):
        # only the implementations are constructed (SoftQLearning.__new__ picks one); this takes their arguments
        if type(self) is SoftQLearning:
            raise TypeError("SoftQLearning is built through one of its implementations")
        super().__init__(*args, **kwargs)
        self._n_calls = 0

    # set-up ------------------------------------------------------------------------------------------

    def _setup_model(self) -> None:
        check_policy_class(type(self), self.policy_class, (self.policy_base,))
        self._check_arguments()
        check_action_space_bounds(self.action_space)
        # the temperature first: a malformed or unusable ent_coef fails before any network is built
        self._setup_lr_schedule()
        # alpha, log alpha, their optimiser and the entropy target: one owner, exposed under SAC's attribute names
        self.temperature = Temperature(
            self.ent_coef, self._target_entropy_argument(), self.action_space, self.device, self.lr_schedule(1)
        )
        self.target_entropy = self.temperature.target_entropy
        self._check_temperature()
        super()._setup_model()
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
        arguments already, ``learning_rate=0`` included, which only ``load`` accepts.) Implementations add their own.
        """
        check_loaded_off_policy_hyperparameters(self)

    def _check_temperature(self) -> None:
        """Refuse a temperature the implementation cannot use, before anything else is built."""

    def _target_entropy_argument(self) -> str | float:
        return "auto"

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


def _implementation_for(policy: Any, env: Any) -> type[SoftQLearning]:
    from sb3_maxent.sql.continuous import ContinuousSoftQLearning
    from sb3_maxent.sql.discrete import DiscreteSoftQLearning

    action_space = action_space_of(env)
    if isinstance(action_space, spaces.Box):
        return ContinuousSoftQLearning
    if action_space is not None:
        # Discrete, or an unsupported space that SB3's own check then names
        return DiscreteSoftQLearning
    # no environment (SoftQLearning.load): the saved policy tells
    if inspect.isclass(policy):
        for implementation in (DiscreteSoftQLearning, ContinuousSoftQLearning):
            if issubclass(policy, implementation.policy_base):
                return implementation
        check_policy_class(SoftQLearning, policy, (DiscreteSoftQLearning.policy_base, ContinuousSoftQLearning.policy_base))
    return DiscreteSoftQLearning


def _refuse_arguments_of_the_other_implementation(implementation: type[SoftQLearning], kwargs: dict[str, Any]) -> None:
    from sb3_maxent.sql.continuous import ContinuousSoftQLearning

    continuous = implementation is ContinuousSoftQLearning
    foreign, kind = (DISCRETE_ONLY, "Discrete") if continuous else (CONTINUOUS_ONLY, "Box")
    for name, reason in foreign.items():
        if name in kwargs:
            raise ValueError(f"SoftQLearning: {name} applies to {kind} actions only ({reason})")
