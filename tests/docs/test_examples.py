"""Every ```python example of README.md and docs/ runs as written, so that none can rot.

Training budgets are cut to a few hundred steps (the examples' API is what is checked here; what they learn is
measured by the benchmarks they quote).
"""

import functools
import re
from pathlib import Path

import pytest
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "README.pypi.md", *sorted((ROOT / "docs").rglob("*.md"))]
STEPS_PER_EXAMPLE_LEARN = 300


def python_examples() -> list:
    examples = []
    for page in PAGES:
        for index, code in enumerate(re.findall(r"^```python\n(.*?)^```", page.read_text(), re.DOTALL | re.MULTILINE)):
            examples.append(pytest.param(code, id=f"{page.relative_to(ROOT)}[{index}]"))
    return examples


def test_the_docs_have_examples():
    pages_with_examples = {example.id.split("[")[0] for example in python_examples()}
    assert {"README.md", "docs/modules/sacv1.md", "docs/modules/sql.md", "docs/modules/soft_vi.md"} <= pages_with_examples


@pytest.mark.parametrize("code", python_examples())
def test_example_runs(code, tmp_path, monkeypatch):
    learn = OffPolicyAlgorithm.learn

    @functools.wraps(learn)
    def short_learn(self, total_timesteps, *args, **kwargs):
        return learn(self, min(total_timesteps, STEPS_PER_EXAMPLE_LEARN), *args, **kwargs)

    monkeypatch.setattr(OffPolicyAlgorithm, "learn", short_learn)
    monkeypatch.chdir(tmp_path)  # examples save their models
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # render_mode="human" without a display
    exec(compile(code, "<example>", "exec"), {"__name__": "__example__"})
