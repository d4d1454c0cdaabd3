"""
One public name, an implementation per action space: how ``SACV1`` and ``SoftQLearning`` are built.

The public class derives from :class:`ActionSpaceDispatch` (first) and defines the real ``__init__``, which takes the
arguments of every implementation and is documented once, in its docstring. An implementation derives from the
public class and names its action space in the class statement::

    class DiscreteSoftQLearning(SoftQLearning, action_space=spaces.Discrete, refused_arguments=CONTINUOUS_ONLY): ...

``SoftQLearning(policy, env, ...)`` then returns the implementation for ``env``'s action space (an instance of
``SoftQLearning``), or, without an environment (SB3's ``load``), the one whose ``policy_base`` the policy class
derives from. Implementations join the public class when their module is imported (the package's ``__init__``
imports them), so the public class's module never imports them: no import cycle, no import inside a function.
"""

import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Self, cast

import gymnasium as gym
from gymnasium import spaces

from sb3_maxent.common.validation import check_policy_class


def action_space_of(env: Any) -> spaces.Space | None:
    """
    :param env: what the user passed as ``env``: an environment, a ``VecEnv``, a registered id, or ``None``
    :return: its action space, or ``None`` without an environment
    """
    if env is None:
        return None
    if isinstance(env, str):
        # a throwaway instance: SB3 makes its own from the id
        made = gym.make(env)
        try:
            return made.action_space
        finally:
            made.close()
    return getattr(env, "action_space", None)


class ActionSpaceDispatch:
    """
    Mixin of a public algorithm class whose call builds the implementation for the environment's action space.

    Its ``__new__`` is the only dispatch code. ``help()``, ``inspect.signature``, mypy and Sphinx show the public
    class's ``__init__``: mypy and Python pick the ``__init__`` of the public class over this mixin's ``__new__``
    (the method found first along the MRO), and ``__signature__`` (set on every subclass) tells Sphinx, which
    would otherwise show ``__new__``'s ``(*args, **kwargs)``.

    Class keywords of an implementation:

    - ``action_space``: the ``gymnasium.spaces.Space`` subclass it is built for;
    - ``refused_arguments``: the public ``__init__``'s arguments of other implementations, each with the reason it
      does not apply; one passed explicitly (even at its default value) is refused with that reason.

    An implementation may check its own arguments before anything is built by overriding
    :meth:`_check_implementation_arguments`; the algorithm's ``_check_arguments`` runs the same checks on a loaded
    model's attributes (SB3's ``load`` does not call the constructor with the saved values).
    """

    # the public class, on it and on every subclass
    public_class: ClassVar[type["ActionSpaceDispatch"]]
    # on the public class: its implementations by action space, in the order they joined
    implementations: ClassVar[dict[type[spaces.Space], type["ActionSpaceDispatch"]]]
    # on an implementation: its action space and the other implementations' arguments it refuses (name: reason)
    action_space_class: ClassVar[type[spaces.Space] | None] = None
    refused_arguments: ClassVar[Mapping[str, str]] = MappingProxyType({})
    # every policy of an implementation derives from it: without an environment, the policy class picks
    policy_base: ClassVar[type]
    # SB3's: the public class's lists those of all its implementations, an implementation's its own
    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]]
    __signature__: ClassVar[inspect.Signature]

    def __init_subclass__(
        cls,
        /,
        action_space: type[spaces.Space] | None = None,
        refused_arguments: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        # the constructor's signature without self, for help(), inspect.signature and Sphinx
        init_signature = inspect.signature(cls.__init__)
        cls.__signature__ = init_signature.replace(parameters=list(init_signature.parameters.values())[1:])
        if ActionSpaceDispatch in cls.__bases__:
            cls.public_class = cls
            cls.implementations = {}
        if action_space is None:
            if refused_arguments is not None:
                raise TypeError(f"{cls.__name__}: refused_arguments is for an implementation, which names its action_space")
            return
        public = cls.public_class
        if cls.action_space_class is not None or action_space in public.implementations:
            raise TypeError(f"{cls.__name__}: {public.__name__} already has an implementation for {action_space.__name__}")
        refused = dict(refused_arguments or {})
        unknown = set(refused) - set(public.__signature__.parameters)
        if unknown:
            raise TypeError(f"{cls.__name__} refuses {sorted(unknown)}, which {public.__name__}'s __init__ does not take")
        cls.action_space_class = action_space
        cls.supported_action_spaces = (action_space,)
        cls.refused_arguments = MappingProxyType(refused)
        public.implementations[action_space] = cls

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        try:
            bound = cls.__signature__.bind(*args, **kwargs)
        except TypeError:
            # arguments __init__ does not take (which it then names), or copy and pickle's call without any
            return super().__new__(cls)
        if cls is cls.public_class:
            implementation = cls._implementation_for(bound.arguments.get("policy"), bound.arguments.get("env"))
        elif cls.action_space_class is None:
            names = ", ".join(implementation.__name__ for implementation in cls.public_class.implementations.values())
            raise TypeError(
                f"{cls.__name__} derives from {cls.public_class.__name__}, which builds one of its implementations "
                f"({names}): derive from the implementation for your action space"
            )
        else:
            implementation = cls
        implementation._refuse_arguments(bound.arguments)
        bound.apply_defaults()
        implementation._check_implementation_arguments(bound.arguments)
        return cast(Self, super().__new__(implementation))

    @classmethod
    def _implementation_for(cls, policy: Any, env: Any) -> type["ActionSpaceDispatch"]:
        """The implementation for ``env``'s action space, or, without an environment, the one of ``policy``."""
        if env is not None:
            action_space = action_space_of(env)
            for space_class, implementation in cls.implementations.items():
                if isinstance(action_space, space_class):
                    return implementation
            if action_space is None:
                # not an environment: any implementation, whose construction has SB3 say what is wrong with it
                return next(iter(cls.implementations.values()))
            # SB3's own check of the action space is an assert: the same exception and sentence, for all implementations
            raise AssertionError(
                f"The algorithm only supports {cls.supported_action_spaces} as action spaces but {action_space} was provided"
            )
        if inspect.isclass(policy):
            # no environment (SB3's load): the saved policy class tells
            for implementation in cls.implementations.values():
                if issubclass(policy, implementation.policy_base):
                    return implementation
            check_policy_class(
                cls, policy, tuple(implementation.policy_base for implementation in cls.implementations.values())
            )
        raise TypeError(
            f"{cls.__name__} builds the implementation for the environment's action space: pass env (or, without one, "
            "a policy class)"
        )

    @classmethod
    def _refuse_arguments(cls, arguments: Mapping[str, Any]) -> None:
        """:raises ValueError: on the first argument of another implementation, naming the action spaces it is for"""
        for name, reason in cls.refused_arguments.items():
            if name in arguments:
                spaces_of = [
                    space_class.__name__
                    for space_class, implementation in cls.public_class.implementations.items()
                    if name not in implementation.refused_arguments
                ]
                raise ValueError(
                    f"{cls.public_class.__name__}: {name} applies to {' or '.join(spaces_of)} actions only ({reason})"
                )

    @classmethod
    def _check_implementation_arguments(cls, arguments: Mapping[str, Any]) -> None:
        """
        The implementation's checks of its own arguments, by name (the constructor's arguments, defaults included,
        or a loaded model's attributes): none by default.
        """

    def _set_implementation_arguments(self, **arguments: Any) -> None:
        """
        Keep, as attributes, the arguments of this implementation among ``arguments`` (those of any implementation):
        another implementation's are dropped, so they are neither shown as the model's nor saved with it.

        :raises TypeError: on the public class itself, which is built through one of its implementations
        """
        if type(self).action_space_class is None:
            raise TypeError(f"{type(self).public_class.__name__} is built through one of its implementations")
        for name, value in arguments.items():
            if name not in self.refused_arguments:
                setattr(self, name, value)
