import time
from typing import Any, ClassVar, Literal, TypeVar, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback
from stable_baselines3.common.utils import configure_logger, safe_mean

from sb3_maxent.common.ent_coef import parse_fixed_ent_coef
from sb3_maxent.common.soft_bellman import FloatArray, soft_value
from sb3_maxent.common.validation import check_policy_class
from sb3_maxent.tabular.mdp import TabularMDP, known_model
from sb3_maxent.tabular.policies import TabularSoftPolicy
from sb3_maxent.tabular.solvers import (
    EvaluationMethod,
    SolverResult,
    check_gamma,
    soft_newton_iteration,
    soft_policy_evaluation,
    soft_policy_iteration,
    soft_value_iteration,
)

SelfSoftValueIteration = TypeVar("SelfSoftValueIteration", bound="SoftValueIteration")

Solver = Literal["auto", "newton", "value_iteration", "policy_iteration"]
SOLVERS = ("auto", "newton", "value_iteration", "policy_iteration")


class SoftValueIteration(BaseAlgorithm):
    r"""
    Exact maximum-entropy RL on a known finite MDP: soft value iteration or soft policy iteration.

    Solves :math:`Q^*(s,a) = r(s,a) + \gamma \sum_{s'} P(s'|s,a)\,\alpha\log\sum_{a'}\exp(Q^*(s',a')/\alpha)`,
    then acts with :math:`\pi^*(a|s) = \exp((Q^*(s,a) - V^*(s))/\alpha)`. At ``ent_coef=0`` it is hard value
    (or policy) iteration. Sparse throughout: it scales to MDPs of millions of states.

    ``learn()`` solves the MDP (once), then, when an environment is attached, acts in it for
    ``total_timesteps`` steps so that callbacks (evaluation, checkpoints, progress bar, Optuna pruning)
    see a run like any SB3 model's; those steps do not change the solution.

    :param policy: ``"TabularPolicy"`` (``"MlpPolicy"`` is accepted as an alias: the policy is a table)
    :param env: a toy-text environment exposing ``env.unwrapped.P`` (FrozenLake, Taxi, CliffWalking), as an
        id, an instance or a VecEnv; optional when ``mdp`` is given
    :param mdp: the MDP to solve (see :meth:`TabularMDP.from_arrays`); by default built from ``env``
    :param gamma: discount factor in [0, 1); 1 is allowed when every episode ends
    :param ent_coef: temperature :math:`\alpha \geq 0` (reward units); 0 gives hard value iteration
    :param tol: stop when the Bellman residual :math:`\|\mathcal{T}Q - Q\|_\infty` is at most ``tol``
    :param max_iter: maximum number of sweeps (value iteration) or improvement steps (policy iteration);
        reaching it warns
    :param solver: ``"newton"`` (soft policy iteration as an inexact Newton method, matrix-free:
        :func:`~sb3_maxent.tabular.solvers.soft_newton_iteration`), ``"value_iteration"``, ``"policy_iteration"``
        (each evaluation solved to ``tol`` by ``evaluation``), or ``"auto"`` (the default): ``"newton"``, which
        needed the fewest mat-vecs at every size and discount measured (``benchmarks/soft_vi_scale.md``), and
        ``"value_iteration"`` at ``gamma = 1`` (which Newton does not take).
        ``solver_used`` says which one solved
    :param evaluation: policy evaluation of policy iteration: ``"direct"`` (sparse LU), ``"gmres"`` or ``"iterative"``
    :param stats_window_size: episodes averaged in the rollout logs
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: keyword arguments of the policy
    :param verbose: 0 silent, 1 solver summary and rollout logs
    :param seed: seed of the action sampling and the environment
    :param device: where the tables live (``"cpu"`` by default: table look-ups gain nothing from a GPU)
    :param _init_setup_model: whether to build the policy at creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "TabularPolicy": TabularSoftPolicy,
        "MlpPolicy": TabularSoftPolicy,
    }
    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Discrete,)
    policy: TabularSoftPolicy

    def __init__(
        self,
        policy: str | type[TabularSoftPolicy] = "TabularPolicy",
        env: GymEnv | str | None = None,
        mdp: TabularMDP | None = None,
        gamma: float = 0.99,
        ent_coef: float = 1e-3,
        tol: float = 1e-8,
        max_iter: int = 100_000,
        solver: Solver = "auto",
        evaluation: EvaluationMethod = "direct",
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "cpu",
        _init_setup_model: bool = True,
    ):
        super().__init__(
            policy,
            env,
            learning_rate=0.0,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            support_multi_env=True,
            seed=seed,
            supported_action_spaces=self.supported_action_spaces,
        )
        if isinstance(ent_coef, str) and ent_coef.startswith("auto"):
            raise ValueError(
                f"SoftValueIteration needs a fixed temperature: ent_coef must be a float >= 0, got {ent_coef!r} (the "
                "MDP is solved exactly at one temperature, so there is no entropy target to tune it against); pass a "
                "number such as ent_coef=0.1, or 0 for hard value iteration"
            )
        try:
            self.ent_coef = parse_fixed_ent_coef(ent_coef, float32=False)
        except (TypeError, ValueError) as error:
            if "ent_coef" in str(error):
                raise
            raise ValueError(f"ent_coef (the temperature alpha) must be a finite number >= 0, got {ent_coef!r}") from None
        if not (tol > 0 and np.isfinite(tol)):
            raise ValueError(f"tol must be a finite number > 0, got {tol}")
        if max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {max_iter}")
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(map(repr, SOLVERS))}, got {solver!r}")
        if evaluation not in ("direct", "gmres", "iterative"):
            raise ValueError(f"evaluation must be 'direct', 'gmres' or 'iterative', got {evaluation!r}")
        self.tol, self.max_iter, self.solver, self.evaluation = float(tol), int(max_iter), solver, evaluation
        self.mdp = self._resolve_mdp(mdp)
        if self.mdp is not None:
            self.gamma = check_gamma(gamma, self.mdp)
            self._match_spaces(self.mdp)
        elif _init_setup_model:
            raise ValueError("SoftValueIteration needs a known MDP: pass mdp=TabularMDP.from_arrays(...) or a toy-text env")
        else:
            self.gamma = float(gamma)  # loading a saved model: the MDP is not needed to act
        self.iterations = 0
        self.residual = float("inf")
        self.converged = False
        self.solver_result: SolverResult | None = None
        self.solver_used: str | None = None
        if _init_setup_model:
            self._setup_model()

    def _resolve_mdp(self, mdp: TabularMDP | None) -> TabularMDP | None:
        if mdp is not None:
            if not isinstance(mdp, TabularMDP):
                raise TypeError(f"mdp must be a TabularMDP (see TabularMDP.from_arrays), got {type(mdp).__name__}")
            return mdp
        if self.env is not None:
            return TabularMDP.from_env(self.env)
        return None

    def _match_spaces(self, mdp: TabularMDP) -> None:
        if self.env is None:
            self.observation_space = spaces.Discrete(mdp.n_states)
            self.action_space = spaces.Discrete(mdp.n_actions)
            self.n_envs = 1
            return
        expected = (spaces.Discrete(mdp.n_states), spaces.Discrete(mdp.n_actions))
        if (self.observation_space, self.action_space) != expected:
            raise ValueError(
                f"the MDP has {mdp.n_states} states and {mdp.n_actions} actions but the environment's spaces are "
                f"{self.observation_space} and {self.action_space}"
            )

    def _setup_model(self) -> None:
        self.set_random_seed(self.seed)
        # before building it: another algorithm's policy class would fail on arguments it does not get
        check_policy_class(type(self), self.policy_class, (TabularSoftPolicy,))
        policy_class = cast(type[TabularSoftPolicy], self.policy_class)
        self.policy = policy_class(self.observation_space, self.action_space, **self.policy_kwargs).to(self.device)

    @property
    def q_values(self) -> FloatArray:
        """:math:`Q^*`, shape (n_states, n_actions)."""
        return self.policy.q_table.cpu().numpy().copy()

    @property
    def values(self) -> FloatArray:
        r""":math:`V^*(s) = \alpha\log\sum_a\exp(Q^*(s,a)/\alpha)`, shape (n_states,)."""
        return soft_value(self.q_values, self.ent_coef)

    @property
    def action_probabilities(self) -> FloatArray:
        r""":math:`\pi^*(a|s)`, shape (n_states, n_actions) (``model.policy`` is SB3's policy object)."""
        return np.exp(self.policy.log_policy_table.cpu().numpy())

    def solve(self) -> SolverResult:
        """Solve the MDP with the configured solver and store :math:`Q^*` in the policy."""
        if self.mdp is None:
            raise ValueError("no MDP to solve: this model was loaded without an environment exposing `P`")
        solver = self._resolved_solver()
        if solver == "newton":
            result = soft_newton_iteration(self.mdp, self.gamma, self.ent_coef, self.tol, self.max_iter)
        elif solver == "value_iteration":
            result = soft_value_iteration(self.mdp, self.gamma, self.ent_coef, self.tol, self.max_iter)
        else:
            result = soft_policy_iteration(self.mdp, self.gamma, self.ent_coef, self.tol, self.max_iter, self.evaluation)
        self.solver_used = solver
        if self.verbose >= 1:
            print(
                f"SoftValueIteration: {solver} solved {self.mdp.n_states} states in {result.iterations} iterations "
                f"({result.sweeps} mat-vecs), residual {result.residual:.3g}"
            )
        self.policy.set_q_values(result.q_values, self.ent_coef)
        self.solver_result = result
        self.iterations, self.residual, self.converged = result.iterations, result.residual, result.converged
        self._n_updates += result.iterations
        return result

    def _resolved_solver(self) -> str:
        """``"auto"``: the inexact Newton solver, except at gamma = 1 (which it does not take): value iteration."""
        if self.solver != "auto":
            return self.solver
        return "newton" if self.gamma < 1.0 else "value_iteration"

    def evaluate_policy_table(self, action_probabilities: FloatArray, method: EvaluationMethod = "direct") -> SolverResult:
        r"""
        Soft policy evaluation of any policy on this model's MDP, at its ``gamma`` and ``ent_coef``.

        :param action_probabilities: :math:`\pi(a|s)`, shape (n_states, n_actions)
        :param method: ``"direct"`` (sparse LU), ``"gmres"`` or ``"iterative"``
        :return: :math:`Q^\pi` and :math:`V^\pi` with the solve's statistics
        """
        if self.mdp is None:
            raise ValueError("no MDP: this model was loaded without an environment exposing `P`")
        return soft_policy_evaluation(self.mdp, action_probabilities, self.gamma, self.ent_coef, method=method, tol=self.tol)

    def learn(
        self: SelfSoftValueIteration,
        total_timesteps: int = 0,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "SoftValueIteration",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfSoftValueIteration:
        """
        Solve the MDP (if not solved yet), then act for ``total_timesteps`` steps in the environment, if any.

        :param total_timesteps: environment steps to act for after solving (callbacks run on each)
        :param log_interval: log the rollout statistics every ``log_interval`` episodes
        """
        if self.iterations == 0:  # not solved yet (a loaded model keeps its solution)
            self.solve()
        if self.env is None or total_timesteps <= 0:
            if not self._custom_logger:
                self._logger = configure_logger(self.verbose, self.tensorboard_log, tb_log_name, reset_num_timesteps)
            self._record_solution()
            self.logger.dump(step=self.num_timesteps)
            return self

        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        self._record_solution()
        callback.on_training_start(locals(), globals())
        assert self.env is not None
        # An acting loop of its own rather than OffPolicyAlgorithm.collect_rollouts: that one needs a replay buffer,
        # train_freq and action noise, none of which a solved MDP has; setup, logger, callbacks and info buffer are SB3's
        while self.num_timesteps < total_timesteps:
            actions, _ = self.predict(self._last_obs, deterministic=False)  # type: ignore[arg-type]
            new_obs, rewards, dones, infos = self.env.step(actions)
            self.num_timesteps += self.env.num_envs
            self._update_current_progress_remaining(self.num_timesteps, total_timesteps)
            callback.update_locals(locals())
            if not callback.on_step():
                break
            self._update_info_buffer(infos, dones)
            self._last_obs, self._last_episode_starts = new_obs, dones  # type: ignore[assignment]
            for _ in range(int(np.sum(dones))):
                self._episode_num += 1
                if log_interval > 0 and self._episode_num % log_interval == 0:
                    self.dump_logs()
        callback.on_training_end()
        return self

    def _record_solution(self) -> None:
        self.logger.record("train/solver", str(self.solver_used), exclude="tensorboard")
        self.logger.record("train/iterations", self.iterations)
        self.logger.record("train/residual", self.residual)
        self.logger.record("train/converged", int(self.converged))
        self.logger.record("train/value_mean", float(np.mean(self.values)))
        self.logger.record("train/ent_coef", self.ent_coef)

    def dump_logs(self) -> None:
        """
        Write the rollout statistics, as SB3's off-policy algorithms do: ``OffPolicyAlgorithm.dump_logs`` is not
        reachable from ``BaseAlgorithm`` (and also logs training statistics a solved MDP does not have).
        """
        assert self.ep_info_buffer is not None
        time_elapsed = max((time.time_ns() - self.start_time) / 1e9, 1e-9)
        self.logger.record("time/episodes", self._episode_num, exclude="tensorboard")
        if len(self.ep_info_buffer) > 0:
            self.logger.record("rollout/ep_rew_mean", safe_mean([info["r"] for info in self.ep_info_buffer]))
            self.logger.record("rollout/ep_len_mean", safe_mean([info["l"] for info in self.ep_info_buffer]))
        self.logger.record("time/fps", int((self.num_timesteps - self._num_timesteps_at_start) / time_elapsed))
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(step=self.num_timesteps)

    @staticmethod
    def check_environment(env: Any) -> None:
        """
        What the zoo front end asks before training (:mod:`sb3_maxent.zoo.preflight`): the environment must expose
        its tabular model ``P``.

        :raises ValueError: if it does not
        """
        known_model(env)

    def _excluded_save_params(self) -> list[str]:
        # The MDP belongs to the environment (and may be huge); Q*, V*, pi* are saved through the policy
        return [*super()._excluded_save_params(), "mdp", "solver_result"]
