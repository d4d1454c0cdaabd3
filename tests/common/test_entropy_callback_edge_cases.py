"""Contracts of EntropyTargetCallback, the Boltzmann entropy and Temperature that the behavioural tests leave open."""

import math
import warnings

import gymnasium as gym
import pytest
import torch as th
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.envs import IdentityEnv

from sb3_maxent import SACV1, EntropyTargetCallback, EpsilonGreedyEntropyCallback, SoftQLearning
from sb3_maxent.common import boltzmann
from sb3_maxent.common.ent_coef import (
    EntCoefSpec,
    Temperature,
    epsilon_greedy_entropy,
    epsilon_greedy_target_schedule,
    parse_ent_coef,
)
from sb3_maxent.common.protocol import MaxEntAlgorithm, SACAdapter, SACTemperature, as_maxent_algorithm
from sb3_maxent.common.validation import (
    DivergenceError,
    check_finite_losses,
    check_off_policy_hyperparameters,
    check_policy_class,
)
from sb3_maxent.sql.policies import ContinuousSoftQPolicy, DiscreteSoftQPolicy

BOX = gym.spaces.Box(-1.0, 1.0, (1,))
UNSUPPORTED = (
    r"^EntropyTargetCallback supports SACV1 \(either action space\), SB3's SAC and discrete SoftQLearning "
    r"\(with a float ent_coef\), not {}$"
)


def test_boltzmann_entropy_at_zero_temperature_is_on_the_device_of_the_q_values():
    # "meta" stands in for an accelerator: the zeros of the greedy policy must not be created on the CPU
    entropy = boltzmann.entropy(th.zeros(3, 2, device="meta"), 0.0)
    assert (entropy.device.type, entropy.shape) == ("meta", (3,))


def test_temperature_tensors_are_created_on_the_requested_device():
    learned = Temperature("auto_0.5", "auto", BOX, "meta", 1e-3)
    fixed = Temperature(0.5, "auto", BOX, "meta", 1e-3)
    started = Temperature.learned_from(0.5, BOX, "meta", 1e-3)
    assert learned.log_ent_coef.device.type == "meta"
    assert fixed.ent_coef_tensor.device.type == "meta"
    assert started.log_ent_coef.device.type == "meta"


def test_gsde_exploration_noise_is_resampled_for_every_dual_step():
    # with gSDE the sampled action of a state is fixed until reset_noise(): each dual step's entropy estimate
    # -log pi(a|s) must come from fresh noise, as SAC's own entropy loss does
    model = SACV1(
        "MlpPolicy",
        "Pendulum-v1",
        use_sde=True,
        learning_starts=10_000,
        ent_coef=0.5,
        policy_kwargs={"net_arch": [16]},
        seed=0,
    )
    model.learn(64)
    resets = []
    reset_noise = model.actor.reset_noise
    model.actor.reset_noise = lambda *args, **kwargs: resets.append(1) or reset_noise(*args, **kwargs)
    callback = EntropyTargetCallback(target_entropy=-1.0, batch_size=8)
    callback.init_callback(model)
    callback.update(3)
    assert len(resets) == 3


def test_a_model_without_policy_entropy_or_temperature_tensor_is_refused():
    # both are needed: a TD3 given an ent_coef_tensor attribute has no policy entropy to drive it with
    td3 = TD3("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [16]})
    td3.ent_coef_tensor = th.tensor(0.1)
    with pytest.raises(ValueError, match=UNSUPPORTED.format("TD3")):
        EntropyTargetCallback().init_callback(td3)
    # a model whose networks are not built yet (no policy attribute at all) is refused the same way
    unbuilt = SACV1("MlpPolicy", "Pendulum-v1", ent_coef=0.1, _init_setup_model=False)
    with pytest.raises(ValueError, match=UNSUPPORTED.format("ContinuousSACV1")):
        EntropyTargetCallback().init_callback(unbuilt)


def test_no_dual_step_and_nothing_logged_when_the_model_took_no_gradient_step():
    model = SACV1("MlpPolicy", "Pendulum-v1", learning_starts=10_000, ent_coef=0.5, policy_kwargs={"net_arch": [16]}, seed=0)
    model.learn(64)  # collects only: no gradient step
    callback = EntropyTargetCallback(target_entropy=-1.0)
    callback.init_callback(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty dual phase would average no losses (numpy's "Mean of empty slice")
        callback.on_rollout_start()
    assert not {"train/ent_coef", "train/entropy", "train/ent_coef_loss"} & set(model.logger.name_to_value)


def test_auto_initial_value_is_everything_after_the_first_underscore():
    message = r"^ent_coef='auto_x_0\.5': the initial value after 'auto_' must be a finite number > 0$"
    with pytest.raises(ValueError, match=message):
        parse_ent_coef("auto_x_0.5")
    assert parse_ent_coef("auto_0.25") == EntCoefSpec(learnable=True, initial_value=0.25)


def test_a_positive_ent_coef_that_float32_rounds_to_zero_is_refused_with_the_whole_reason():
    message = (
        r"^ent_coef=1e-50 is below float32's smallest positive number \(1\.4e-45\) and would become 0: "
        r"pass 0 for no entropy bonus, or a value of at least 1e-38$"
    )
    with pytest.raises(ValueError, match=message):
        parse_ent_coef(1e-50)


def test_only_a_learned_temperature_has_an_optimiser_and_a_dual_loss():
    learned = Temperature("auto", "auto", BOX, "cpu", 1e-3)
    fixed = Temperature(0.5, "auto", BOX, "cpu", 1e-3)
    # the learning-rate schedule reaches the dual optimiser through optimizers()
    assert learned.optimizers() == [learned.ent_coef_optimizer] and fixed.optimizers() == []
    with pytest.raises(AssertionError, match=r"^only a learned temperature has a dual loss$"):
        fixed.dual_loss(th.ones(2))
    # and only a fixed one can be set from outside (the callback's way of driving it)
    message = r"^this temperature is learned \(ent_coef='auto'\): it cannot be set from outside$"
    with pytest.raises(ValueError, match=message):
        learned.assign(th.tensor(0.5))


def test_a_user_choice_of_optimizer_implementation_is_kept():
    # fused Adam is only a default: an explicit fused=False (e.g. for a custom device) must reach the optimisers
    chosen = SACV1(
        "MlpPolicy", "Pendulum-v1", ent_coef=0.1, policy_kwargs={"net_arch": [8], "optimizer_kwargs": {"fused": False}}
    )
    default = SACV1("MlpPolicy", "Pendulum-v1", ent_coef=0.1, policy_kwargs={"net_arch": [8]})
    assert (chosen.actor.optimizer.defaults["fused"], chosen.critic.optimizer.defaults["fused"]) == (False, False)
    assert default.actor.optimizer.defaults["fused"] is True


def test_a_non_finite_loss_stops_training_with_the_whole_diagnosis():
    message = (
        r"^critic_loss is nan at gradient step 3 \(environment step 40\): training diverged\. Lower the learning rate, "
        r"rescale rewards or lower ent_coef; the model was not updated with this step\.$"
    )
    with pytest.raises(DivergenceError, match=message):
        check_finite_losses({"actor_loss": 1.0, "critic_loss": float("nan")}, n_updates=3, num_timesteps=40)


def test_off_policy_hyperparameters_accept_their_boundaries_and_refuse_a_zero_learning_rate():
    valid = dict(
        tau=1.0, gamma=1.0, batch_size=1, buffer_size=1, learning_starts=0, gradient_steps=0, target_update_interval=1
    )
    check_off_policy_hyperparameters(**valid, learning_rate=1e-9)  # undiscounted, one-sample batch and buffer: valid
    with pytest.raises(ValueError, match=r"^learning_rate must be a finite number > 0 or a schedule, got 0\.0$"):
        check_off_policy_hyperparameters(**valid, learning_rate=0.0)


def test_a_foreign_policy_is_refused_naming_it_and_its_owner_if_known():
    expected = (DiscreteSoftQPolicy,)
    with pytest.raises(TypeError, match=r"^SACV1 cannot use the policy torch\.nn\.modules\.linear\.Linear$"):
        check_policy_class(SACV1, th.nn.Linear, expected)
    # not even a class (no __module__, no __qualname__): still a TypeError naming what was given
    with pytest.raises(TypeError, match=r"^SACV1 cannot use the policy \.7$"):
        check_policy_class(SACV1, 7, expected)
    # the same package's policy for the other action type
    with pytest.raises(
        TypeError,
        match=r"^SoftQLearning cannot use the policy sb3_maxent\.sql\.policies\.ContinuousSoftQPolicy, which is made for "
        r"another action space: pass 'MlpPolicy', 'CnnPolicy' or 'MultiInputPolicy' and the right one is chosen$",
    ):
        check_policy_class(SoftQLearning, ContinuousSoftQPolicy, expected)


# the protocol between EntropyTargetCallback and the algorithms ---------------------------------------------------


def _with_filled_buffer(model):
    model.learn(64)  # learning_starts above: collects only
    return model


def test_the_algorithms_follow_the_protocol_and_sb3_sac_has_its_adapter():
    # a fresh dict each: SB3 adds "use_sde" to the policy_kwargs it is given, which DQN-style policies refuse
    def small():
        return {"net_arch": [8]}

    discrete = [
        SACV1("MlpPolicy", IdentityEnv(3), ent_coef=0.1, learning_starts=1000, policy_kwargs=small()),
        SoftQLearning("MlpPolicy", IdentityEnv(3), ent_coef=0.1, learning_starts=1000, policy_kwargs=small()),
    ]
    for model in [SACV1("MlpPolicy", "Pendulum-v1", ent_coef=0.1, learning_starts=1000, policy_kwargs=small()), *discrete]:
        assert isinstance(model, MaxEntAlgorithm) and as_maxent_algorithm(model) is model
        assert model.policy_entropy_unavailable is None
        entropy = _with_filled_buffer(model).policy_entropy(model.replay_buffer.sample(7).observations)
        assert entropy.shape == (7,) and not entropy.requires_grad and th.isfinite(entropy).all()
    for model in discrete:  # exact entropies of a softmax over 3 actions
        entropy = model.policy_entropy(model.replay_buffer.sample(7).observations)
        assert th.all(entropy >= 0) and th.all(entropy <= th.log(th.tensor(3.0)) + 1e-6)
    # continuous SoftQLearning says why it has no entropy
    svgd = SoftQLearning("MlpPolicy", "Pendulum-v1", ent_coef=0.1, policy_kwargs=small())
    assert isinstance(svgd, MaxEntAlgorithm) and "SVGD sampler" in svgd.policy_entropy_unavailable
    with pytest.raises(ValueError, match="SVGD sampler"):
        svgd.policy_entropy(th.zeros(2, 3))
    # SB3's SAC through its one adapter; other algorithms, and a SAC without networks yet, are not supported
    sac = SAC("MlpPolicy", "Pendulum-v1", ent_coef=0.1, policy_kwargs=small())
    adapter = as_maxent_algorithm(sac)
    assert isinstance(adapter, SACAdapter) and isinstance(adapter, MaxEntAlgorithm)
    assert as_maxent_algorithm(SAC("MlpPolicy", "Pendulum-v1", _init_setup_model=False)) is None
    assert as_maxent_algorithm(TD3("MlpPolicy", "Pendulum-v1", policy_kwargs=small())) is None


def test_the_callback_steers_the_models_own_temperature():
    model = _with_filled_buffer(
        SoftQLearning("MlpPolicy", IdentityEnv(3), ent_coef=0.5, learning_starts=1000, policy_kwargs={"net_arch": [8]})
    )
    callback = EntropyTargetCallback(target_entropy=0.9, learning_rate=0.1)
    callback.init_callback(model)
    # no temperature of its own: log alpha and its optimiser live in the model's, the one owner
    temperature = model.temperature
    assert callback.temperature is temperature and temperature.steered and not temperature.learnable
    assert callback.log_ent_coef is temperature.log_ent_coef and callback.optimizer is temperature.ent_coef_optimizer
    # the model shows the target it is steered to; ent_coef stays the argument, and SAC's names keep SAC's meaning
    assert model.target_entropy == 0.9
    assert (model.ent_coef, model.log_ent_coef, model.ent_coef_optimizer) == (0.5, None, None)
    # the model's learning-rate schedule leaves the callback's optimiser alone
    assert temperature.optimizers() == []
    callback.update(3)
    assert callback.alpha == callback.ent_coef == temperature.item() != pytest.approx(0.5)
    assert th.equal(model.ent_coef_tensor, temperature.log_ent_coef.detach().exp().reshape(()))


def test_sb3_sacs_own_attributes_are_steered_through_the_adapter():
    sac = _with_filled_buffer(
        SAC("MlpPolicy", "Pendulum-v1", ent_coef=0.5, learning_starts=1000, policy_kwargs={"net_arch": [8]}, seed=0)
    )
    ent_coef_tensor = sac.ent_coef_tensor
    callback = EntropyTargetCallback(target_entropy=-0.5, learning_rate=0.1)
    callback.init_callback(sac)
    assert isinstance(callback.temperature, SACTemperature)
    assert callback.temperature.ent_coef_tensor is ent_coef_tensor and sac.target_entropy == -0.5
    callback.update(2)
    assert sac.ent_coef_tensor is ent_coef_tensor and ent_coef_tensor.item() == callback.alpha != pytest.approx(0.5)
    # SAC still has a fixed temperature: its own train() does not step alpha
    assert (sac.log_ent_coef, sac.ent_coef_optimizer) == (None, None)
    # learning again with the same callback goes on with the same log alpha and optimiser
    log_ent_coef = callback.log_ent_coef
    sac.learn(8, callback=callback, reset_num_timesteps=False)
    assert callback.log_ent_coef is log_ent_coef


def test_steering_is_refused_to_a_learned_temperature_and_publishing_needs_a_steered_one():
    learned = Temperature("auto", "auto", BOX, "cpu", 1e-3)
    with pytest.raises(
        ValueError, match=r"^this temperature is learned \(ent_coef='auto'\): it cannot be steered from outside$"
    ):
        learned.steer(0.5, 1e-3)
    with pytest.raises(AssertionError, match=r"^only a steered temperature has a log alpha to publish$"):
        Temperature(0.5, "auto", BOX, "cpu", 1e-3).publish()


def test_a_steered_temperature_keeps_log_alpha_on_the_device_of_its_alpha():
    # "meta" stands in for an accelerator: log alpha must live beside the alpha it is published into
    temperature = Temperature(0.5, "auto", BOX, "meta", 1e-3)
    temperature.steer(0.25, 1e-3)
    assert temperature.log_ent_coef.device.type == "meta" and temperature.log_ent_coef.requires_grad


def test_a_target_out_of_reach_is_refused_as_a_constant_or_at_the_start_of_a_schedule():
    temperature = Temperature(0.5, "auto", gym.spaces.Discrete(3), "cpu", 1e-3)
    with pytest.raises(ValueError, match=r"^target_entropy=2\.0 is out of reach for 3 discrete actions"):
        temperature.schedule_target_entropy(lambda progress_remaining: 2.0)
    with pytest.raises(ValueError, match=r"^target_entropy=2\.0 is out of reach for 3 discrete actions"):
        temperature.set_target_entropy(2.0)
    # "auto" is read for the temperature's action space: DQN's final epsilon-greedy entropy over 3 actions
    temperature.set_target_entropy("auto")
    assert temperature.target_entropy == pytest.approx(epsilon_greedy_entropy(0.05, 3), rel=1e-12)


def test_the_epsilon_greedy_target_accepts_dqns_boundaries_of_epsilon():
    # epsilon = 0 is a greedy policy, as SB3's DQN allows: the target ends at entropy 0, from the cap at epsilon = 1
    schedule = epsilon_greedy_target_schedule(4, 0.5, 1.0, 0.0)
    assert schedule(1.0) == pytest.approx(0.98 * math.log(4), rel=1e-12) and schedule(0.0) == 0.0
    assert epsilon_greedy_target_schedule(4, 0.5, 0.0, 0.0)(1.0) == 0.0


def test_update_before_learn_names_the_call():
    with pytest.raises(RuntimeError, match=r"^EntropyTargetCallback\.update\(\): the callback has no temperature yet"):
        EntropyTargetCallback().update(1)


def test_the_epsilon_greedy_callback_passes_its_arguments_on():
    default = EpsilonGreedyEntropyCallback()
    assert (default.target_entropy, default.learning_rate, default.initial_ent_coef) == ("auto", 3e-4, None)
    assert (default.batch_size, default.verbose) == (None, 0)
    callback = EpsilonGreedyEntropyCallback(
        max_fraction=0.5, learning_rate=0.01, initial_ent_coef=0.25, batch_size=16, verbose=1
    )
    assert (callback.learning_rate, callback.initial_ent_coef, callback.batch_size, callback.verbose) == (0.01, 0.25, 16, 1)
    model = SoftQLearning("MlpPolicy", IdentityEnv(4), ent_coef=0.1, learning_starts=1000, policy_kwargs={"net_arch": [8]})
    callback.init_callback(model)
    # alpha starts at initial_ent_coef (rounded once to float32), not at the model's 0.1
    assert callback.alpha == pytest.approx(0.25, rel=1e-6)
    # at the start epsilon = 1 (uniform, log 4): the target is the cap, max_fraction log 4
    assert model.target_entropy == callback.current_target_entropy() == pytest.approx(0.5 * math.log(4), rel=1e-12)


@pytest.mark.parametrize("ent_coef", ["auto_0.5", 0.5])
def test_sacs_temperature_is_a_view_of_sacs_attributes(ent_coef):
    sac = SAC("MlpPolicy", "Pendulum-v1", ent_coef=ent_coef, policy_kwargs={"net_arch": [8]})
    temperature = SACTemperature(sac)
    learned = ent_coef == "auto_0.5"
    assert temperature.learnable is learned and temperature.action_space is sac.action_space
    assert temperature.ent_coef_optimizer is sac.ent_coef_optimizer
    assert temperature.log_ent_coef is sac.log_ent_coef
    if learned:
        assert temperature.ent_coef_optimizer is not None and temperature.log_ent_coef is not None
        assert temperature.ent_coef_tensor is None
    else:
        assert temperature.log_ent_coef is None and temperature.ent_coef_tensor is sac.ent_coef_tensor
    assert temperature.item() == pytest.approx(0.5, rel=1e-6)
    # no schedule: the target stays SAC's; "auto" is read for SAC's action space (-dim A = -1 on Pendulum)
    assert temperature.target_entropy_schedule is None and temperature.follow_schedule(0.5) == sac.target_entropy
    temperature.set_target_entropy("auto")
    assert sac.target_entropy == -1.0


def test_sacs_policy_entropy_is_minus_the_log_probability_of_a_sampled_action():
    sac = SAC("MlpPolicy", "Pendulum-v1", ent_coef=0.5, policy_kwargs={"net_arch": [8]})
    observations = th.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, -2.0]])
    th.manual_seed(3)
    entropy = SACAdapter(sac).policy_entropy(observations)
    th.manual_seed(3)
    _, log_prob = sac.actor.action_log_prob(observations)
    assert entropy.shape == (2,) and th.equal(entropy, -log_prob.detach().reshape(-1))


def test_a_dual_step_towards_a_given_target_returns_its_loss():
    # J = log alpha (mean entropy - target) = log(0.5) (1.5 - 0.25), in float32 (1e-6 relative)
    temperature = Temperature.learned_from(0.5, BOX, "cpu", 1e-3)
    loss = temperature.minimise_dual_loss(th.tensor([1.0, 2.0]), target_entropy=0.25)
    assert temperature.target_entropy == -1.0 and loss == pytest.approx(math.log(0.5) * 1.25, rel=1e-6)


@pytest.mark.parametrize("algorithm", [SACV1, SoftQLearning])
@pytest.mark.parametrize("ent_coef", [0.5, "auto"])
def test_the_algorithms_temperature_lives_on_the_models_device(algorithm, ent_coef):
    # "meta" stands in for an accelerator: the model is built there without computing anything
    model = algorithm("MlpPolicy", IdentityEnv(3), ent_coef=ent_coef, policy_kwargs={"net_arch": [8]}, device="meta")
    tensor = model.temperature.ent_coef_tensor if ent_coef == 0.5 else model.temperature.log_ent_coef
    assert tensor.device.type == "meta"
