"""
YAML read as data: configs (``-conf``) and the ``config.yml`` / ``args.yml`` that rl_zoo3 saves with a run.

PyYAML's ``UnsafeLoader``, which rl_zoo3 uses for its saved files and this package used for ``-conf``, builds any
Python object a tag names: ``!!python/object/apply:os.system [...]`` runs a command. :class:`DataLoader` is
PyYAML's ``SafeLoader`` (``!!float``, anchors and ``<<`` merges work) plus the two Python tags that rl_zoo3's own
files hold and that are data (``collections.OrderedDict``, ``tuple``); any other Python tag is refused with
:class:`UnsafeYamlError`, naming the file.

rl_zoo3 itself still evaluates some *strings* of a config as Python (``policy_kwargs``, ``normalize``, ...): a
config is trusted code there, whatever the loader.
"""

import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sb3_maxent.zoo.extras import missing_message

try:
    import yaml  # PyYAML, which rl_zoo3 installs
except ModuleNotFoundError as error:  # pip install sb3_maxent: the algorithms only
    raise ModuleNotFoundError(missing_message("yaml", "sb3_maxent.zoo.yaml_files"), name="yaml") from error

DATA_TAGS = ("tag:yaml.org,2002:python/object/apply:collections.OrderedDict", "tag:yaml.org,2002:python/tuple")


class UnsafeYamlError(ValueError):
    """A YAML file names a Python object to build (a ``!!python/...`` tag): refused, it could run code."""


class DataLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` plus rl_zoo3's OrderedDict and tuple tags; other Python tags raise UnsafeYamlError."""


def _ordered_dict(loader: DataLoader, node: yaml.Node) -> OrderedDict:
    # rl_zoo3 writes OrderedDict([(key, value), ...]) as a sequence holding one sequence of pairs
    (pairs,) = loader.construct_sequence(node, deep=True)  # type: ignore[arg-type]
    return OrderedDict((key, value) for key, value in pairs)


def _tuple(loader: DataLoader, node: yaml.Node) -> tuple:
    return tuple(loader.construct_sequence(node, deep=True))  # type: ignore[arg-type]


def _refuse(loader: DataLoader, suffix: str, node: yaml.Node) -> Any:
    tag = f"!!python/{suffix}"
    raise UnsafeYamlError(
        f"{loader.name}, line {node.start_mark.line + 1}: the tag {tag} builds a Python object (it could run code); "
        "sb3_maxent reads YAML files as data only"
    )


DataLoader.add_constructor(DATA_TAGS[0], _ordered_dict)
DataLoader.add_constructor(DATA_TAGS[1], _tuple)
DataLoader.add_multi_constructor("tag:yaml.org,2002:python/", _refuse)


def load_yaml(path: str | Path) -> Any:
    """
    :return: the data of a YAML file (``.yml`` or ``.yaml``)
    :raises UnsafeYamlError: if it holds a Python tag other than rl_zoo3's OrderedDict and tuple
    """
    with open(path, encoding="utf-8") as stream:
        return yaml.load(stream, Loader=DataLoader)


@contextlib.contextmanager
def rl_zoo3_reads_yaml_as_data() -> Iterator[None]:
    """
    Within the block, rl_zoo3's ``yaml.load(..., Loader=yaml.UnsafeLoader)`` (saved ``config.yml`` and ``args.yml``
    in ``enjoy``, ``record_video``, ``get_saved_hyperparams``) reads data only: ``yaml.UnsafeLoader`` is
    :class:`DataLoader` (PyYAML's module attribute, which rl_zoo3 looks up at each call).
    """
    unsafe_loader = yaml.UnsafeLoader
    yaml.UnsafeLoader = DataLoader  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        yaml.UnsafeLoader = unsafe_loader  # type: ignore[misc]
