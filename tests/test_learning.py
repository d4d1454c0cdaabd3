"""Learning tests: minutes each, marked ``slow``; run them with ``python -m pytest -m slow``."""

import pytest
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_maxent import SACV1


@pytest.mark.slow
@pytest.mark.parametrize("ent_coef", ["auto", 0.1])
def test_sacv1_solves_pendulum(ent_coef):
    model = SACV1("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, ent_coef=ent_coef, seed=0)
    model.learn(12_000)
    mean_return, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=10)
    assert mean_return > -300
