"""Save/load round trips (exact), replay-buffer checkpoints and resuming, in the SB3 MODEL_LIST style."""

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.envs import IdentityEnvBox

from sb3_maxent import SACV1

MODEL_LIST = [SACV1]


def select_env(model_class):
    return IdentityEnvBox(-10, 10)


def _state(model):
    """Every tensor the model trains with: networks, optimizers and the entropy coefficient."""
    params = model.get_parameters()
    flat = {}
    for group, state_dict in params.items():
        for key, value in _flatten(state_dict):
            flat[f"{group}/{key}"] = value
    return flat


def _flatten(obj, prefix=""):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _flatten(value, f"{prefix}{key}.")
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            yield from _flatten(value, f"{prefix}{index}.")
    else:
        yield prefix.rstrip("."), obj


def _assert_same_state(left, right):
    assert left.keys() == right.keys()
    for key in left:
        if isinstance(left[key], th.Tensor):
            assert th.equal(left[key], right[key]), key
        else:
            assert left[key] == right[key], key


@pytest.mark.parametrize("model_class", MODEL_LIST)
@pytest.mark.parametrize("ent_coef", ["auto", 0.1])
def test_save_load_is_exact(tmp_path, model_class, ent_coef):
    env = select_env(model_class)
    model = model_class("MlpPolicy", env, learning_starts=20, ent_coef=ent_coef, policy_kwargs=dict(net_arch=[16]), seed=0)
    model.learn(60)
    observations = np.stack([env.observation_space.sample() for _ in range(20)])
    actions, _ = model.predict(observations, deterministic=True)

    model.save(tmp_path / "model.zip")
    del model
    loaded = model_class.load(tmp_path / "model.zip", env=env, device="cpu")
    new_actions, _ = loaded.predict(observations, deterministic=True)
    assert np.array_equal(actions, new_actions)

    reloaded_twice = model_class.load(tmp_path / "model.zip", env=env, device="cpu")
    _assert_same_state(_state(loaded), _state(reloaded_twice))
    assert loaded.value_target is loaded.policy.value_target
    loaded.learn(30, reset_num_timesteps=False)


@pytest.mark.parametrize("model_class", MODEL_LIST)
def test_parameters_survive_a_round_trip(tmp_path, model_class):
    model = model_class("MlpPolicy", select_env(model_class), learning_starts=20, policy_kwargs=dict(net_arch=[16]))
    model.learn(50)
    # randomise so that nothing matches a fresh initialisation by chance
    with th.no_grad():
        for param in model.policy.parameters():
            param.add_(th.randn_like(param))
    before = _state(model)
    model.save(tmp_path / "model.zip")
    after = _state(model_class.load(tmp_path / "model.zip", device="cpu"))
    _assert_same_state(before, after)


@pytest.mark.parametrize("model_class", MODEL_LIST)
def test_set_parameters_exact_match_errors(model_class):
    model = model_class("MlpPolicy", select_env(model_class), policy_kwargs=dict(net_arch=[16]))
    params = model.get_parameters()
    with pytest.raises(ValueError):
        model.set_parameters({"not_a_key": {}}, exact_match=True)
    incomplete = dict(params)
    incomplete.pop("policy")
    with pytest.raises(ValueError):
        model.set_parameters(incomplete, exact_match=True)
    model.set_parameters(params, exact_match=True)


def test_learned_ent_coef_is_restored_and_still_optimised(tmp_path):
    model = SACV1("MlpPolicy", "Pendulum-v1", learning_starts=20, ent_coef="auto_0.5", policy_kwargs=dict(net_arch=[16]))
    model.learn(60)
    log_alpha = model.log_ent_coef.detach().clone()
    model.save(tmp_path / "model.zip")
    loaded = SACV1.load(tmp_path / "model.zip", env=model.get_env())
    assert th.equal(loaded.log_ent_coef.detach(), log_alpha)
    loaded.learn(30, reset_num_timesteps=False)
    assert not th.equal(loaded.log_ent_coef.detach(), log_alpha)


def test_fixed_ent_coef_stays_fixed(tmp_path):
    model = SACV1("MlpPolicy", "Pendulum-v1", learning_starts=20, ent_coef=0.3, policy_kwargs=dict(net_arch=[16]))
    model.learn(50)
    model.save(tmp_path / "model.zip")
    loaded = SACV1.load(tmp_path / "model.zip", env=model.get_env())
    loaded.learn(30, reset_num_timesteps=False)
    assert loaded.ent_coef_tensor.item() == pytest.approx(0.3)
    assert loaded.log_ent_coef is None


def test_resume_from_checkpoint_with_replay_buffer(tmp_path):
    model = SACV1("MlpPolicy", "Pendulum-v1", learning_starts=20, buffer_size=500, policy_kwargs=dict(net_arch=[16]), seed=0)
    model.learn(120)
    model.save(tmp_path / "model.zip")
    model.save_replay_buffer(tmp_path / "buffer.pkl")

    resumed = SACV1.load(tmp_path / "model.zip", env=model.get_env())
    resumed.load_replay_buffer(tmp_path / "buffer.pkl")
    assert resumed.replay_buffer.size() == model.replay_buffer.size() == 120
    for field in ["observations", "actions", "rewards", "next_observations", "dones", "timeouts"]:
        assert np.array_equal(getattr(resumed.replay_buffer, field), getattr(model.replay_buffer, field)), field
    assert resumed.num_timesteps == 120
    resumed.learn(40, reset_num_timesteps=False)
    assert resumed.num_timesteps == 160
    assert resumed.replay_buffer.size() == 160


def test_target_entropy_is_a_read_only_view_and_its_argument_is_saved(tmp_path):
    model = SACV1("MlpPolicy", IdentityEnvBox(-1, 1), target_entropy=-0.5, policy_kwargs={"net_arch": [8]})
    assert model.target_entropy == model.temperature.target_entropy == -0.5
    model.temperature.set_target_entropy(-0.25)
    assert model.target_entropy == -0.25  # a view: whatever moves the temperature's target moves it
    with pytest.raises(AttributeError):
        model.target_entropy = 0.0
    # before set-up it is the argument, as SAC's
    assert SACV1("MlpPolicy", IdentityEnvBox(-1, 1), _init_setup_model=False).target_entropy == "auto"
    # saved: the argument, which a reloaded model resolves as the constructor did; a load keyword still sets it
    model.save(tmp_path / "model.zip")
    assert SACV1.load(tmp_path / "model.zip").target_entropy == -0.5
    assert SACV1.load(tmp_path / "model.zip", target_entropy=-2.0).target_entropy == -2.0
