"""
Which extra to install when an optional dependency is missing: one sentence naming it, instead of a bare
``ModuleNotFoundError`` (``pip install sb3_maxent`` installs the algorithms only; docs/guide/install.md lists the extras).
"""

import importlib
import sys

# the top-level module, and the extra of pyproject.toml that installs it
EXTRA_OF = {
    "rl_zoo3": "zoo",
    "sb3_contrib": "zoo",
    "optuna": "zoo",
    "yaml": "zoo",  # PyYAML, through rl_zoo3
    "psycopg": "postgres",
    "moviepy": "video",
    "tqdm": "extra",
    "rich": "extra",
    "pygame": "extra",
    "tensorboard": "extra",
}


def missing_message(module: str, needed_by: str) -> str:
    """The sentence that names the extra to install, e.g. ``pip install "sb3_maxent[zoo]"``."""
    return f'{needed_by} needs {module}, which is not installed: pip install "sb3_maxent[{EXTRA_OF[module]}]"'


def require(*modules: str, needed_by: str) -> None:
    """
    Import ``modules``; where one is missing, raise ``ModuleNotFoundError`` whose message names the extra.

    A module that is installed but misses one of its own dependencies gets the same hint: installing the extra
    installs those too.
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            raise ModuleNotFoundError(missing_message(module, needed_by), name=module) from error


def require_or_exit(*modules: str, program: str) -> None:
    """For console scripts: exit with status 1 and the one-sentence hint (no traceback) where a module is missing."""
    try:
        require(*modules, needed_by=program)
    except ModuleNotFoundError as error:
        sys.exit(str(error))
