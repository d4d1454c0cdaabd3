"""
Models saved by earlier versions still load, act and train: version 0.1 (before the temperature and SoftQLearning
redesign) and version 0.2.0 (before the Discrete*/Continuous* names: its files name their policy class by the old
names, which stay importable as aliases).
"""

import importlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.envs import IdentityEnv, IdentityEnvBox

from sb3_maxent import SACV1, SoftQLearning

DATA = Path(__file__).parents[1] / "data"
EXPECTED = {
    name: expected
    for version in ("0.1", "0.2.0")
    for name, expected in json.loads((DATA / f"saved_v{version}.json").read_text()).items()
}


def current_ent_coef(model) -> float:
    log_ent_coef = getattr(model, "log_ent_coef", None)
    return float(log_ent_coef.exp().item()) if log_ent_coef is not None else float(model.ent_coef_tensor.item())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_saved_files_load_with_their_parameters_temperature_and_actions(name):
    expected = EXPECTED[name]
    algo_class = SACV1 if name.startswith("sacv1") else SoftQLearning
    model = algo_class.load(DATA / name, device="cpu")
    discrete = "discrete" in name
    if "policy_class" in expected:
        # the name the file was saved with is the class the policy is now
        module, _, policy_name = expected["policy_class"].rpartition(".")
        assert type(model.policy) is getattr(importlib.import_module(module), policy_name)
    sums = {key: float(value.double().sum()) for key, value in model.policy.state_dict().items()}
    for key, value in expected["parameter_sums"].items():
        if key == "ent_coef":  # 0.1's mirror of alpha in the discrete policy: alpha now has one owner
            continue
        assert sums[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key
    assert current_ent_coef(model) == pytest.approx(expected["ent_coef"], rel=1e-6)
    # the target entropy the file was saved with (a view of the temperature's now, the attribute then)
    with zipfile.ZipFile(DATA / name) as archive:
        assert model.target_entropy == json.loads(archive.read("data"))["target_entropy"]
    obs = np.array([1]) if discrete else np.array([[0.3]], dtype=np.float32)
    action, _ = model.predict(obs, deterministic=True)
    np.testing.assert_allclose(np.asarray(action), np.asarray(expected["deterministic_action"]), rtol=1e-5, atol=1e-6)
    # it acts stochastically and trains on
    model.predict(obs, deterministic=False)
    model.set_env(IdentityEnv(3) if discrete else IdentityEnvBox(-1, 1))
    model.learning_starts = 0
    model.learn(20, reset_num_timesteps=False)
