"""
Watch (or evaluate) a trained agent with RL Baselines3 Zoo's own ``enjoy``, our algorithms registered.

``python -m sb3_maxent.enjoy --algo sacv1 --env Pendulum-v1 -f logs/`` takes every flag of
``python -m rl_zoo3.enjoy``. rl_zoo3 loads off-policy models without their large replay buffer only for a
hard-coded list of its own algorithms; ours get the same treatment here.
"""

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from gymnasium.error import DependencyNotInstalled
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from sb3_maxent.zoo.extras import missing_message, require_or_exit
from sb3_maxent.zoo.register import ALGORITHMS, register_algorithms


def program_name(argv0: str, command: str) -> str:
    """What the user typed: the console script's name, else ``python -m sb3_maxent.<command>``."""
    script = os.path.basename(argv0)
    return script if script.startswith("sb3-maxent") else f"python -m sb3_maxent.{command}"


class LoadWithoutReplayBuffer:
    """Stands in for an algorithm class in ``rl_zoo3.ALGOS``: ``load`` allocates a one-transition buffer."""

    def __init__(self, algorithm_class: type[BaseAlgorithm]):
        self.algorithm_class = algorithm_class

    def load(self, *args: Any, **kwargs: Any) -> BaseAlgorithm:
        kwargs.setdefault("buffer_size", 1)
        return self.algorithm_class.load(*args, **kwargs)


@contextmanager
def replay_buffers_not_allocated() -> Iterator[None]:
    """Within the block, rl_zoo3 loads our off-policy algorithms with ``buffer_size=1``."""
    from rl_zoo3.utils import ALGOS

    originals = {name: ALGOS[name] for name, cls in ALGORITHMS.items() if issubclass(cls, OffPolicyAlgorithm)}
    try:
        for name, algorithm_class in originals.items():
            ALGOS[name] = LoadWithoutReplayBuffer(algorithm_class)  # type: ignore[assignment]
        yield
    finally:
        ALGOS.update(originals)


def run_loading_script(script: Callable[[], object], argv: Sequence[str] | None = None, command: str = "enjoy") -> None:
    """
    Run an rl_zoo3 script that loads a trained model (``enjoy``, ``record_video``) with our algorithms
    registered and loaded without their replay buffer, and the run's saved YAML files read as data.

    :param argv: the script's arguments (default: this process's command line)
    :param command: ``enjoy`` or ``record_video``, for the program name in an error message
    """
    from sb3_maxent.zoo.yaml_files import rl_zoo3_reads_yaml_as_data  # PyYAML: the zoo extra

    register_algorithms()
    original_argv = sys.argv
    if argv is not None:
        sys.argv = [original_argv[0], *argv]
    try:
        with replay_buffers_not_allocated(), rl_zoo3_reads_yaml_as_data():
            script()
    except DependencyNotInstalled as error:
        if "pygame" not in str(error):
            raise
        # the classic-control environments render with pygame, which `pip install sb3_maxent[zoo]` leaves out
        program = program_name(original_argv[0], command)
        sys.exit(f"{missing_message('pygame', program)} (or run with --no-render)")
    finally:
        sys.argv = original_argv


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m sb3_maxent.enjoy`` and ``sb3-maxent-enjoy``."""
    require_or_exit("rl_zoo3", "sb3_contrib", "optuna", program=program_name(sys.argv[0], "enjoy"))  # the zoo extra
    import rl_zoo3.enjoy

    run_loading_script(rl_zoo3.enjoy.enjoy, argv)


if __name__ == "__main__":
    main()
