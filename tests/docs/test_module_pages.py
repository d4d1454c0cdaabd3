"""
Each algorithm page of the site (docs/modules/) documents, as SB3's pages do, the class with every argument and
method, inherited ones included (``predict``, ``save``, ``load``, ``learn``: autodoc's ``:inherited-members:``),
and the policy classes its aliases (``MlpPolicy``, ``CnnPolicy``, ``MultiInputPolicy``) resolve to.

Read from the Markdown (no Sphinx build): ``sphinx-build -W`` in .ci/run checks that each target imports.
"""

import importlib
import re
from pathlib import Path

import pytest

import sb3_maxent
from sb3_maxent.sacv1 import ContinuousSACV1, DiscreteSACV1
from sb3_maxent.sql import ContinuousSoftQLearning, DiscreteSoftQLearning

MODULES = Path(__file__).resolve().parents[2] / "docs" / "modules"

# page: (the class of its "Parameters" section, the algorithms whose policies it documents)
PAGES = {
    "sacv1.md": (sb3_maxent.SACV1, [ContinuousSACV1]),
    "sacv1_discrete.md": (DiscreteSACV1, [DiscreteSACV1]),
    "sql.md": (sb3_maxent.SoftQLearning, [DiscreteSoftQLearning, ContinuousSoftQLearning]),
    "msql.md": (DiscreteSoftQLearning, [DiscreteSoftQLearning]),
    "soft_vi.md": (sb3_maxent.SoftValueIteration, [sb3_maxent.SoftValueIteration]),
    "entropy_callback.md": (sb3_maxent.EntropyTargetCallback, []),
}


def _autoclasses(text: str) -> list[tuple[object, list[str]]]:
    """Each ``.. autoclass::`` of the text: the object it names, and its options."""
    found = []
    for target, options in re.findall(r"^\.\. autoclass:: (\S+)\n((?:   :.*\n)*)", text, re.MULTILINE):
        module, name = target.rsplit(".", 1)
        found.append((getattr(importlib.import_module(module), name), options.split()))
    return found


def test_every_algorithm_page_is_checked():
    assert {path.name for path in MODULES.glob("*.md")} == set(PAGES)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_parameters_section_documents_the_class_with_its_inherited_methods(page):
    cls, _ = PAGES[page]
    text = (MODULES / page).read_text()
    parameters = text[text.index("\n## Parameters\n") :]
    end = parameters.find("\n## ", 1)  # the next section
    parameters = parameters if end == -1 else parameters[:end]
    documented = [options for obj, options in _autoclasses(parameters) if obj is cls]
    assert any(":inherited-members:" in options for options in documented), f"{page}: {cls.__name__}"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_policies_of_each_alias_are_documented(page):
    _, algorithms = PAGES[page]
    documented = {obj for obj, _ in _autoclasses((MODULES / page).read_text())}
    for algorithm in algorithms:
        for alias, policy in algorithm.policy_aliases.items():
            assert policy in documented, f"{page}: {algorithm.__name__}'s {alias} ({policy.__name__})"
    if algorithms:
        text = (MODULES / page).read_text()
        assert re.search(r"^## .*Policies\n(.|\n)*```\{eval-rst\}", text, re.MULTILINE), f"{page}: no Policies section"


def test_the_callback_page_documents_both_callbacks():
    documented = {obj for obj, _ in _autoclasses((MODULES / "entropy_callback.md").read_text())}
    assert {sb3_maxent.EntropyTargetCallback, sb3_maxent.EpsilonGreedyEntropyCallback} <= documented
