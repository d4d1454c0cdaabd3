"""
Every algorithm on an explicit device: it trains there, its networks and temperature live there, and a checkpoint
reloads exactly, on the same device and on the CPU, and resumes with its replay buffer.

On CPU by default (as in CI); on a GPU: ``SB3_MAXENT_TEST_DEVICE=cuda python -m pytest tests/sb3/test_device.py``.
"""

import os

import numpy as np
import pytest
import torch as th

from sb3_maxent import SACV1, EntropyTargetCallback, SoftQLearning

DEVICE = os.environ.get("SB3_MAXENT_TEST_DEVICE", "cpu")
pytestmark = pytest.mark.skipif(
    DEVICE.startswith("cuda") and not th.cuda.is_available(), reason=f"SB3_MAXENT_TEST_DEVICE={DEVICE}: no GPU here"
)

CASES = {
    "sacv1_box_auto": (SACV1, "Pendulum-v1", dict(ent_coef="auto")),
    "sacv1_box_entropy_callback": (SACV1, "Pendulum-v1", dict(ent_coef=0.2)),
    "sacv1_discrete": (SACV1, "CartPole-v1", dict()),
    "sacv1_discrete_huber": (SACV1, "CartPole-v1", dict(loss="huber")),
    "sql_discrete_auto": (SoftQLearning, "CartPole-v1", dict(ent_coef="auto")),
    "msql_discrete": (SoftQLearning, "CartPole-v1", dict(ent_coef="auto", munchausen_coef=0.9)),
    "sql_box": (SoftQLearning, "Pendulum-v1", dict(ent_coef=0.1)),
}


def _trained(case: str):
    algo_class, env_id, kwargs = CASES[case]
    model = algo_class("MlpPolicy", env_id, learning_starts=64, batch_size=32, buffer_size=2000, seed=0, device=DEVICE,
                       policy_kwargs=dict(net_arch=[32, 32]), **kwargs)  # fmt: skip
    callback = EntropyTargetCallback() if case.endswith("entropy_callback") else None
    model.learn(300, callback=callback)
    return model


def _same_parameters(left, right) -> bool:
    pairs = zip(left.policy.state_dict().items(), right.policy.state_dict().items(), strict=True)
    return all(name_l == name_r and th.equal(a.cpu(), b.cpu()) for (name_l, a), (name_r, b) in pairs)


@pytest.mark.parametrize("case", list(CASES))
def test_trains_on_the_device_and_reloads_exactly(tmp_path, case):
    model = _trained(case)
    device_type = th.device(DEVICE).type
    assert model.device.type == device_type
    assert all(parameter.device.type == device_type for parameter in model.policy.parameters())
    assert model.temperature.value().device.type == device_type
    observations = np.stack([model.observation_space.sample() for _ in range(16)])
    actions, _ = model.predict(observations, deterministic=True)
    model.save(tmp_path / "model.zip")
    model.save_replay_buffer(tmp_path / "buffer.pkl")

    same_device = type(model).load(tmp_path / "model.zip", device=DEVICE)
    assert _same_parameters(model, same_device)
    assert np.array_equal(same_device.predict(observations, deterministic=True)[0], actions)
    on_cpu = type(model).load(tmp_path / "model.zip", device="cpu")
    assert all(parameter.device.type == "cpu" for parameter in on_cpu.policy.parameters())
    assert _same_parameters(model, on_cpu)
    # the same parameters; a GPU's float32 kernels round differently from the CPU's, so Box actions agree to rounding
    cpu_actions = on_cpu.predict(observations, deterministic=True)[0]
    np.testing.assert_allclose(cpu_actions, actions, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", ["sacv1_box_auto", "sacv1_discrete", "msql_discrete"])
def test_resumes_on_the_device_with_its_replay_buffer(tmp_path, case):
    model = _trained(case)
    model.save(tmp_path / "model.zip")
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    resumed = type(model).load(tmp_path / "model.zip", env=model.get_env(), device=DEVICE)
    resumed.load_replay_buffer(tmp_path / "buffer.pkl")
    assert resumed.replay_buffer.size() == model.replay_buffer.size()
    n_updates = resumed._n_updates
    resumed.learn(100, reset_num_timesteps=False)
    assert resumed._n_updates > n_updates
    assert all(th.isfinite(parameter).all() for parameter in resumed.policy.parameters())
