import math
import warnings
from collections import defaultdict
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy, ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, PyTorchObs, Schedule
from stable_baselines3.common.utils import get_parameters_by_name, polyak_update
from stable_baselines3.dqn.policies import QNetwork
from torch.nn import functional as F

from sb3_maxent.common.ent_coef import (
    dual_ent_coef_gradient,
    epsilon_greedy_entropy,
    make_ent_coef,
    parse_ent_coef,
    parse_target_entropy,
)
from sb3_maxent.common.soft_bellman import soft_value_torch
from sb3_maxent.common.validation import check_finite_losses, check_off_policy_hyperparameters, check_policy_class
from sb3_maxent.sacv1.sacv1 import frozen_parameters
from sb3_maxent.sql.policies import (
    CONTINUOUS_COUNTERPART,
    CnnPolicy,
    ContinuousSoftQPolicy,
    MlpPolicy,
    MultiInputPolicy,
    SoftQPolicy,
    SVGDSampler,
)
from sb3_maxent.sql.svgd import stein_direction

SelfSoftQLearning = TypeVar("SelfSoftQLearning", bound="SoftQLearning")

LossName = Literal["mse", "huber"]

# The temperature when none is given. Discrete: learned towards the entropy of DQN's final epsilon-greedy policy,
# starting at 0.1 in reward units; starting at 1 (SAC's "auto"), the entropy bonus of up to log|A| per step outweighs
# unit rewards while the temperature is still high (SB3's HER BitFlipping test: 0 of 3 seeds where DQN and "auto_0.1"
# succeed). Continuous: fixed, as the SVGD sampler has no entropy to learn it from.
DISCRETE_DEFAULT_ENT_COEF = "auto_0.1"
CONTINUOUS_DEFAULT_ENT_COEF = 0.01


def soft_q_learning_target(
    rewards: th.Tensor,
    dones: th.Tensor,
    discounts: th.Tensor | float,
    next_q_values: th.Tensor,
    ent_coef: th.Tensor | float,
) -> th.Tensor:
    """
    Soft Q-learning target (Haarnoja et al. 2017, eq. 10 with the exact soft value of a finite action set).

    :math:`t = r + \\gamma (1 - d)\\,\\alpha \\log \\sum_{a'} \\exp(\\bar Q(s', a')/\\alpha)`; at :math:`\\alpha = 0`
    it is DQN's target :math:`r + \\gamma (1 - d) \\max_{a'} \\bar Q(s', a')`.

    :param next_q_values: :math:`\\bar Q(s', \\cdot)` of the target network, shape (batch_size, n_actions)
    :return: shape (batch_size, 1)
    """
    return rewards + (1.0 - dones) * discounts * soft_value_torch(next_q_values, ent_coef)


def importance_sampled_soft_value(q_values: th.Tensor, ent_coef: float, action_dim: int) -> th.Tensor:
    """
    Soft value of a continuous action box by importance sampling with the uniform proposal
    :math:`q(a) = 2^{-D}` over :math:`[-1, 1]^D` (Haarnoja et al. 2017, eq. 10):

    :math:`V(s) \\approx \\alpha\\,[\\mathrm{logsumexp}_i(Q(s, a_i)/\\alpha) - \\log M + D \\log 2]`, :math:`a_i \\sim q`.

    :param q_values: :math:`Q(s, a_i)`, shape (batch_size, M)
    :param ent_coef: :math:`\\alpha > 0`
    :param action_dim: :math:`D`
    :return: shape (batch_size, 1)
    """
    n_samples = q_values.shape[1]
    log_mean_exp = th.logsumexp(q_values / ent_coef, dim=1, keepdim=True) - math.log(n_samples)
    return ent_coef * (log_mean_exp + action_dim * math.log(2.0))


def repeat_observations(obs: PyTorchObs, repeats: int) -> PyTorchObs:
    """Each observation ``repeats`` times in a row (batch_size * repeats, ...), for particles per state."""
    if isinstance(obs, dict):
        return {key: value.repeat_interleave(repeats, dim=0) for key, value in obs.items()}
    return obs.repeat_interleave(repeats, dim=0)


class SoftQLearning(OffPolicyAlgorithm):
    """
    Soft Q-Learning (SQL): Q-learning on the soft Bellman equation, acting with the energy-based policy
    :math:`\\pi(a|s) \\propto \\exp(Q(s,a)/\\alpha)`, for discrete and continuous actions.

    Paper: https://arxiv.org/abs/1702.08165 (Reinforcement Learning with Deep Energy-Based Policies).
    Original implementation: https://github.com/haarnoja/softqlearning

    DQN-shaped (SB3's ``DQN`` arguments and networks): replay buffer, target network updated every
    ``target_update_interval`` environment steps with coefficient ``tau``, loss
    :math:`\\|Q_\\theta(s,a) - t\\|^2` (or Huber) with
    :math:`t = r + \\gamma(1-d)\\,\\alpha\\log\\sum_{a'}\\exp(\\bar Q(s',a')/\\alpha)`.
    Exploration comes from the Boltzmann policy itself, so there is no epsilon-greedy schedule. With a finite
    action set the soft value is exact (no sampling). ``ent_coef=0`` is DQN without exploration noise.

    Continuous (``Box``) actions, as in the paper: soft Q networks (``n_critics``, min over them; 1 by default as
    in the paper) with a Polyak target, the soft value of :math:`s'` by importance sampling with ``value_n_particles``
    uniform actions, and an amortised sampler :math:`a = \\tanh(f_\\phi(s, \\xi))` trained by SVGD with
    ``svgd_n_particles`` particles per state, ``svgd_update_ratio`` of which are moved by the Stein direction
    computed from the others (the target log-density includes the tanh correction
    :math:`\\sum_d \\log(1 - a_d^2)`, as in softlearning). ``ent_coef`` is then a float (the inverse reward scale);
    the continuous policy has no tractable entropy, so ``"auto"`` is refused. For continuous actions the
    DQN-style defaults are usually replaced (see ``zoo_configs/sql.yml``): ``tau=0.005``,
    ``target_update_interval=1``, ``train_freq=1``, ``batch_size=256``, ``learning_rate=3e-4``.

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: The learning rate, it can be a function of the current progress remaining (from 1 to 0)
    :param buffer_size: size of the replay buffer
    :param learning_starts: how many steps of the model to collect transitions for before learning starts
    :param batch_size: Minibatch size for each gradient update
    :param tau: the soft update coefficient of the target network (1 for a hard copy)
    :param gamma: the discount factor
    :param train_freq: Update the model every ``train_freq`` steps, or ``(n, "episode")``
    :param gradient_steps: How many gradient steps to do after each rollout (-1: as many as environment steps)
    :param replay_buffer_class: Replay buffer class to use. If ``None``, it will be automatically selected.
    :param replay_buffer_kwargs: Keyword arguments to pass to the replay buffer on creation.
    :param optimize_memory_usage: Enable a memory efficient variant of the replay buffer
    :param n_steps: n-step returns (SB3's ``NStepReplayBuffer``)
    :param ent_coef: temperature :math:`\\alpha \\geq 0` in reward units, ``"auto"`` or ``"auto_<init>"`` to learn it so
        that the Boltzmann policy's entropy meets ``target_entropy``. ``None`` (default): ``"auto_0.1"`` for ``Discrete``
        actions (learned from 0.1 towards ``target_entropy``, DQN's final exploration; a fixed small alpha such as the
        0.01 of earlier versions is practically greedy after a few hundred steps and explores less than DQN), 0.01
        for ``Box`` actions
    :param target_update_interval: update the target network every ``target_update_interval`` environment steps
    :param target_entropy: entropy target of ``ent_coef="auto"``, in :math:`[0, \\log|\\mathcal A|)`; ``"auto"`` is the
        entropy of SB3 DQN's final epsilon-greedy policy, ``epsilon_greedy_entropy(0.05, n_actions)``. The bundled
        ``zoo_configs/sql.yml`` entries use the same function with their tuned DQN's final epsilon
    :param loss: ``"huber"`` (SB3's DQN; the default, ``None``) or ``"mse"`` (the paper)
    :param max_grad_norm: The maximum value for the gradient clipping
    :param exploration_final_eps: SB3 DQN's argument, with the same meaning for the Boltzmann policy: when given,
        ``target_entropy`` is the entropy of DQN's final epsilon-greedy policy, ``epsilon_greedy_entropy(eps, n_actions)``
        (so a DQN configuration carries over; DQN's epsilon schedule has no counterpart, the temperature is learned)
    :param value_n_particles: continuous actions: uniform samples :math:`M` of the importance-sampled soft value
    :param svgd_n_particles: continuous actions: particles per state of the SVGD update
    :param svgd_update_ratio: continuous actions: fraction of the particles moved by the Stein direction
    :param stats_window_size: Window size for the rollout logging
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation
    :param verbose: Verbosity level: 0 for no output, 1 for info messages, 2 for debug messages
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run.
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Discrete, spaces.Box)
    policy: SoftQPolicy | ContinuousSoftQPolicy  # type: ignore[assignment]
    q_net: QNetwork
    q_net_target: QNetwork
    actor: SVGDSampler
    critic: ContinuousCritic
    critic_target: ContinuousCritic

    def __init__(
        self,
        policy: str | type[SoftQPolicy],
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
        loss: LossName | None = None,
        max_grad_norm: float = 10.0,
        exploration_final_eps: float | None = None,
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
        if ent_coef is not None:
            parse_ent_coef(ent_coef)
        if loss not in ("mse", "huber", None):
            raise ValueError(f"loss must be 'mse' or 'huber', got {loss!r}")
        if not (max_grad_norm > 0 and math.isfinite(max_grad_norm)):
            raise ValueError(f"max_grad_norm must be a finite number > 0, got {max_grad_norm}")
        if value_n_particles < 1 or svgd_n_particles < 2:
            raise ValueError(
                f"value_n_particles must be >= 1 and svgd_n_particles >= 2, got {value_n_particles} and {svgd_n_particles}"
            )
        n_updated = round(svgd_n_particles * svgd_update_ratio)
        if not 0 < n_updated < svgd_n_particles:
            raise ValueError(
                f"svgd_update_ratio={svgd_update_ratio} must leave at least one fixed and one updated particle "
                f"out of svgd_n_particles={svgd_n_particles}"
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
        self.ent_coef = ent_coef
        self.target_entropy = target_entropy
        self.target_update_interval = target_update_interval
        self.loss = loss
        self.max_grad_norm = max_grad_norm
        self.exploration_final_eps = exploration_final_eps
        self.value_n_particles = value_n_particles
        self.svgd_n_particles = svgd_n_particles
        self.svgd_update_ratio = svgd_update_ratio
        self.log_ent_coef: th.Tensor | None = None
        self.ent_coef_optimizer: th.optim.Adam | None = None
        self._n_calls = 0
        if _init_setup_model:
            self._setup_model()

    def _resolve_defaults(self) -> str | float:
        """Fill in the defaults that depend on the action space (see the class docstring); returns ``ent_coef``."""
        if self.ent_coef is None:
            self.ent_coef = CONTINUOUS_DEFAULT_ENT_COEF if self.continuous else DISCRETE_DEFAULT_ENT_COEF
        if self.loss is None:
            self.loss = "huber"
        return self.ent_coef

    def _resolve_target_entropy(self) -> float:
        """``target_entropy``, or the entropy of DQN's epsilon-greedy policy at ``exploration_final_eps``."""
        epsilon = self.exploration_final_eps
        if epsilon is None:
            return parse_target_entropy(self.target_entropy, self.action_space)
        if self.continuous:
            raise ValueError("exploration_final_eps sets the entropy of a Boltzmann policy over discrete actions only")
        if self.target_entropy != "auto":
            raise ValueError("pass target_entropy or exploration_final_eps (which sets it), not both")
        return epsilon_greedy_entropy(epsilon, int(self.action_space.n))  # type: ignore[attr-defined]

    @property
    def continuous(self) -> bool:
        """Whether the actions are continuous (SVGD sampler) rather than discrete (Boltzmann over Q)."""
        return isinstance(self.action_space, spaces.Box)

    def _setup_model(self) -> None:
        check_policy_class(type(self), self.policy_class, (SoftQPolicy, ContinuousSoftQPolicy))
        ent_coef = self._resolve_defaults()
        if self.continuous:
            # One alias ("MlpPolicy", ...) serves both action types
            self.policy_class = CONTINUOUS_COUNTERPART.get(self.policy_class, self.policy_class)
            if parse_ent_coef(ent_coef).learnable:
                raise ValueError(
                    "ent_coef='auto' needs the policy's entropy, which the SVGD sampler of continuous SoftQLearning "
                    "does not have in closed form: use a float ent_coef (the inverse reward scale)"
                )
        super()._setup_model()
        self._create_aliases()
        online, target = (self.critic, self.critic_target) if self.continuous else (self.q_net, self.q_net_target)
        self.batch_norm_stats = get_parameters_by_name(online, ["running_"])
        self.batch_norm_stats_target = get_parameters_by_name(target, ["running_"])
        self.target_entropy = self._resolve_target_entropy()
        state = make_ent_coef(ent_coef, self.device, self.lr_schedule(1))
        self.log_ent_coef, self.ent_coef_optimizer = state.log_ent_coef, state.ent_coef_optimizer
        if state.ent_coef_tensor is not None:
            self.ent_coef_tensor = state.ent_coef_tensor
        if self.continuous and float(self.current_ent_coef().item()) <= 0.0:
            raise ValueError("continuous SoftQLearning needs ent_coef > 0 (the soft value divides by it)")
        self._sync_policy_temperature()
        if self.n_envs > 1 and self.n_envs > self.target_update_interval:
            warnings.warn(
                "The number of environments used is greater than the target network update interval "
                f"({self.n_envs} > {self.target_update_interval}): the target network is updated after every "
                f"env.step(), i.e. every {self.n_envs} steps",
                stacklevel=2,
            )

    def _create_aliases(self) -> None:
        policy = self.policy
        if isinstance(policy, ContinuousSoftQPolicy):
            self.actor = policy.actor
            self.critic = policy.critic
            self.critic_target = policy.critic_target
        else:
            assert isinstance(policy, SoftQPolicy)
            self.q_net = policy.q_net
            self.q_net_target = policy.q_net_target

    def current_ent_coef(self) -> th.Tensor:
        """:math:`\\alpha` (a scalar tensor, detached)."""
        if self.log_ent_coef is not None:
            return self.log_ent_coef.detach().exp().reshape(())
        return self.ent_coef_tensor

    def _sync_policy_temperature(self) -> None:
        # The discrete policy acts with exp(Q / alpha): keep its copy of alpha current
        if isinstance(self.policy, SoftQPolicy):
            self.policy.ent_coef.copy_(self.current_ent_coef())

    def _on_step(self) -> None:
        """Update the target network every ``target_update_interval`` environment steps (as SB3's DQN)."""
        self._n_calls += 1
        if self._n_calls % max(self.target_update_interval // self.n_envs, 1) == 0:
            online = self.critic if self.continuous else self.q_net
            target = self.critic_target if self.continuous else self.q_net_target
            polyak_update(online.parameters(), target.parameters(), self.tau)
            polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        if self.continuous:
            self._train_continuous(gradient_steps, batch_size)
        else:
            self._train_discrete(gradient_steps, batch_size)

    def _train_discrete(self, gradient_steps: int, batch_size: int) -> None:
        self.policy.set_training_mode(True)
        optimizers: list[th.optim.Optimizer] = [self.policy.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
        self._update_learning_rate(optimizers)
        logs: dict[str, list[float]] = defaultdict(list)

        for gradient_step in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
            ent_coef = float(self.current_ent_coef())

            with th.no_grad():
                # t = r + gamma (1 - d) alpha logsumexp(Q_bar(s', .) / alpha)
                target_q_values = soft_q_learning_target(
                    replay_data.rewards,
                    replay_data.dones,
                    discounts,
                    self.q_net_target(replay_data.next_observations),
                    ent_coef,
                )

            all_q_values = self.q_net(replay_data.observations)
            q_values = th.gather(all_q_values, dim=1, index=replay_data.actions.long())
            loss = F.mse_loss(q_values, target_q_values) if self.loss == "mse" else F.smooth_l1_loss(q_values, target_q_values)

            # Exact entropy of the Boltzmann policy pi = softmax(Q / alpha) on the batch
            entropy = self._boltzmann_entropy(all_q_values.detach(), ent_coef)

            stats = {"loss": loss.detach(), "entropy": entropy.mean(), "q_values": q_values.detach().mean()}
            # one synchronisation for every logged number
            numbers = dict(zip(stats, th.stack(list(stats.values())).tolist(), strict=True))
            numbers["ent_coef"] = ent_coef
            if self.log_ent_coef is not None:
                assert isinstance(self.target_entropy, float)
                # J(log alpha) = log alpha * (H - H_target) on the batch: alpha grows while the entropy is below target
                # (alpha can only reach 0 by float underflow: -inf makes the divergence check name it)
                log_ent_coef = math.log(ent_coef) if ent_coef > 0.0 else -math.inf
                numbers["ent_coef_loss"] = log_ent_coef * (numbers["entropy"] - self.target_entropy)
            check_finite_losses(
                {key: numbers[key] for key in ("loss", "ent_coef_loss") if key in numbers},
                n_updates=self._n_updates + gradient_step,
                num_timesteps=self.num_timesteps,
                replay_data=replay_data,
            )

            self.policy.optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
            if self.log_ent_coef is not None and self.ent_coef_optimizer is not None:
                assert isinstance(self.target_entropy, float)
                # J is linear in log alpha: its gradient is set directly, without a backward pass (a third of a step)
                self.log_ent_coef.grad = dual_ent_coef_gradient(entropy, self.target_entropy)
                self.ent_coef_optimizer.step()
            for key, value in numbers.items():
                logs[key].append(value)

        self._sync_policy_temperature()
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        for key, values in logs.items():
            self.logger.record(f"train/{key}", np.mean(values))

    @staticmethod
    def _boltzmann_entropy(q_values: th.Tensor, ent_coef: float) -> th.Tensor:
        """
        :math:`\\mathcal H(\\pi(\\cdot|s))` of :math:`\\pi \\propto \\exp(Q/\\alpha)`,
        shape (batch_size,); 0 at :math:`\\alpha = 0`.
        """
        if ent_coef == 0.0:
            return th.zeros(q_values.shape[0], device=q_values.device)
        log_probs = th.log_softmax(q_values / ent_coef, dim=1)
        return -(log_probs.exp() * log_probs).sum(dim=1)

    def _train_continuous(self, gradient_steps: int, batch_size: int) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])
        ent_coef = float(self.current_ent_coef().item())
        action_dim = get_action_dim(self.action_space)
        logs: dict[str, list[float]] = defaultdict(list)
        for gradient_step in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma

            with th.no_grad():
                # V_bar(s') ~ alpha [logsumexp_i Q_bar(s', a_i)/alpha - log M + log|A|], a_i ~ U([-1, 1]^D)
                next_values = importance_sampled_soft_value(
                    self._min_q_of_particles(
                        self.critic_target, replay_data.next_observations, self._uniform_actions(batch_size)
                    ),
                    ent_coef,
                    action_dim,
                )
                target_q_values = replay_data.rewards + (1.0 - replay_data.dones) * discounts * next_values

            q_values = self.critic(replay_data.observations, replay_data.actions)
            # J_Q = sum_i 1/2 (Q_i(s, a) - t)^2
            critic_loss = 0.5 * th.stack([F.mse_loss(q, target_q_values) for q in q_values]).sum()
            sampler_loss = self._svgd_surrogate_loss(replay_data.observations, ent_coef)

            numbers = th.stack([critic_loss.detach(), sampler_loss.detach(), q_values[0].detach().mean()]).tolist()
            check_finite_losses(
                {"critic_loss": numbers[0], "sampler_loss": numbers[1]},
                n_updates=self._n_updates + gradient_step,
                num_timesteps=self.num_timesteps,
                replay_data=replay_data,
            )
            self.critic.optimizer.zero_grad()
            critic_loss.backward()
            self.critic.optimizer.step()
            self.actor.optimizer.zero_grad()
            sampler_loss.backward()
            self.actor.optimizer.step()
            for key, value in zip(("critic_loss", "sampler_loss", "q_values"), numbers, strict=True):
                logs[key].append(value)

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/ent_coef", ent_coef)
        for key, values in logs.items():
            self.logger.record(f"train/{key}", np.mean(values))

    def _uniform_actions(self, batch_size: int) -> th.Tensor:
        """``value_n_particles`` actions per state, uniform over the squashed box [-1, 1]^D."""
        action_dim = get_action_dim(self.action_space)
        return 2.0 * th.rand(batch_size, self.value_n_particles, action_dim, device=self.device) - 1.0

    @staticmethod
    def _min_q_of_particles(critic: ContinuousCritic, obs: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        """:math:`\\min_i Q_i(s, a_k)` for K actions per state: actions (B, K, D) -> (B, K)."""
        batch_size, n_particles, action_dim = actions.shape
        q_values = critic(repeat_observations(obs, n_particles), actions.reshape(batch_size * n_particles, action_dim))
        return th.cat(q_values, dim=1).min(dim=1).values.reshape(batch_size, n_particles)

    def _svgd_surrogate_loss(self, obs: PyTorchObs, ent_coef: float) -> th.Tensor:
        """
        Surrogate whose gradient moves the sampler's particles along the Stein direction (Haarnoja et al. 2017,
        eq. 13): :math:`-\\sum \\langle f_\\phi(s, \\xi_i), \\mathrm{sg}[\\phi(a_i)] \\rangle`, with the target
        :math:`\\log p(a) = Q(s,a)/\\alpha + \\sum_d \\log(1 - a_d^2)` scored at the fixed particles.
        """
        n_updated = round(self.svgd_n_particles * self.svgd_update_ratio)
        actions = self.actor.sample(obs, n_particles=self.svgd_n_particles)
        fixed = actions[:, : self.svgd_n_particles - n_updated].detach().requires_grad_(True)
        updated = actions[:, self.svgd_n_particles - n_updated :]
        with frozen_parameters(self.critic):
            log_density = self._min_q_of_particles(self.critic, obs, fixed) / ent_coef
            log_density = log_density + th.log(1.0 - fixed.pow(2) + 1e-6).sum(dim=-1)
            (scores,) = th.autograd.grad(log_density.sum(), fixed)
        direction = stein_direction(fixed.detach(), updated.detach(), scores.detach())
        return -(updated * direction).sum(dim=-1).mean()

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

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "q_net", "q_net_target", "actor", "critic", "critic_target"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        optimizers = ["actor.optimizer", "critic.optimizer"] if self.continuous else ["policy.optimizer"]
        if self.ent_coef_optimizer is not None:
            return ["policy", *optimizers, "ent_coef_optimizer"], ["log_ent_coef"]
        return ["policy", *optimizers], ["ent_coef_tensor"]
