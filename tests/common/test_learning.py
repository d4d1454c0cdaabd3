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


@pytest.mark.slow
def test_discrete_sql_solves_cartpole_at_its_entropy_target():
    """The bundled CartPole-v1 entry: the Boltzmann policy's entropy settles at the target, and it balances."""
    import yaml
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_maxent import SoftQLearning
    from sb3_maxent.zoo import config_path
    from sb3_maxent.zoo.yaml_files import DataLoader

    entry = yaml.load(config_path("sql").read_text(), Loader=DataLoader)["CartPole-v1"]
    kwargs = {key: value for key, value in entry.items() if key not in ("n_timesteps", "policy")}
    kwargs["policy_kwargs"] = eval(kwargs["policy_kwargs"])
    model = SoftQLearning("MlpPolicy", "CartPole-v1", seed=0, **kwargs)
    evaluation = EvalCallback(make_vec_env("CartPole-v1", seed=100), eval_freq=5_000, n_eval_episodes=10)
    model.learn(int(entry["n_timesteps"]), callback=evaluation)
    assert evaluation.best_mean_reward >= 450
    log_probs = model.policy.boltzmann_log_probs(model.replay_buffer.sample(1024).observations).detach()
    entropy = float(-(log_probs.exp() * log_probs).sum(dim=1).mean())
    assert entropy == pytest.approx(kwargs["target_entropy"], abs=0.05)
