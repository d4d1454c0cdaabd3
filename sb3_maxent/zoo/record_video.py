"""
Record a video of a trained agent with RL Baselines3 Zoo's own ``record_video`` script, our algorithms registered.

``python -m sb3_maxent.record_video --algo sacv1 --env Pendulum-v1 -f logs/ -n 1000`` takes every flag of
``python -m rl_zoo3.record_video``. rl_zoo3 2.9 has no function to call there (the script lives under
``if __name__ == "__main__"``), so it is run as ``__main__`` with ``runpy``; our off-policy models are loaded without
their replay buffer, as rl_zoo3 does for its own. Writing the video needs ``moviepy`` (the ``video`` extra).
"""

import runpy
import sys
from collections.abc import Sequence

from sb3_maxent.zoo.enjoy import program_name, run_loading_script
from sb3_maxent.zoo.extras import require_or_exit


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m sb3_maxent.record_video`` and ``sb3-maxent-record-video``."""
    # the video extra (it includes the zoo extra)
    require_or_exit("rl_zoo3", "sb3_contrib", "optuna", "moviepy", program=program_name(sys.argv[0], "record_video"))
    run_loading_script(
        lambda: runpy.run_module("rl_zoo3.record_video", run_name="__main__", alter_sys=True), argv, "record_video"
    )


if __name__ == "__main__":
    main()
