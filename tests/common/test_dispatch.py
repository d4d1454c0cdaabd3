"""
ActionSpaceDispatch on a family of classes made inside the tests (the algorithms' own are made at import, before a test
can look at how): what a public class and its implementations record, and the class it builds for an environment.
"""

import inspect
from types import SimpleNamespace

import pytest
from gymnasium import spaces

from sb3_maxent.common.dispatch import ActionSpaceDispatch


def make_family() -> tuple[type, type, type]:
    class Public(ActionSpaceDispatch):
        def __init__(self, policy, env=None, learning_rate=1.0, box_only=0.0):
            self.policy, self.env, self.learning_rate = policy, env, learning_rate

    class DiscreteImplementation(Public, action_space=spaces.Discrete, refused_arguments={"box_only": "a Box knob"}):
        pass

    class BoxImplementation(Public, action_space=spaces.Box):
        pass

    return Public, DiscreteImplementation, BoxImplementation


def test_a_public_class_records_its_implementations_and_each_its_action_space():
    public, discrete, box = make_family()
    assert public.public_class is public and discrete.public_class is public and box.public_class is public
    assert public.implementations == {spaces.Discrete: discrete, spaces.Box: box}
    assert (discrete.action_space_class, discrete.supported_action_spaces) == (spaces.Discrete, (spaces.Discrete,))
    assert (box.action_space_class, box.supported_action_spaces) == (spaces.Box, (spaces.Box,))
    assert dict(discrete.refused_arguments) == {"box_only": "a Box knob"} and dict(box.refused_arguments) == {}
    # the signatures shown by help() and Sphinx: the constructor's, without self
    for cls in (public, discrete, box):
        assert list(inspect.signature(cls).parameters) == ["policy", "env", "learning_rate", "box_only"]


def test_the_public_class_builds_the_implementation_for_the_action_space_and_refuses_the_others_arguments():
    public, discrete, box = make_family()
    discrete_env, box_env = SimpleNamespace(action_space=spaces.Discrete(3)), SimpleNamespace(action_space=spaces.Box(-1, 1))
    built = public("policy", discrete_env, learning_rate=0.5)
    assert type(built) is discrete and (built.policy, built.env, built.learning_rate) == ("policy", discrete_env, 0.5)
    assert type(public("policy", box_env, box_only=1.0)) is box
    with pytest.raises(ValueError, match=r"^Public: box_only applies to Box actions only \(a Box knob\)$"):
        public("policy", discrete_env, box_only=1.0)


def test_refused_arguments_need_an_action_space():
    with pytest.raises(TypeError, match=r"^Lone: refused_arguments is for an implementation, which names its action_space$"):

        class Lone(ActionSpaceDispatch, refused_arguments={"x": "no"}):
            def __init__(self, x=0):
                pass
