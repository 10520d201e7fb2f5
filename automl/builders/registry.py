"""A tiny Keras-style registry: ``get(name | config | instance)`` for every family."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from automl._text import one_of, show
from automl.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named implementations of one family (blocks, optimizers, ...).

    >>> blocks = Registry("block")
    >>> @blocks.register("mlp")
    ... class MLP: ...
    >>> blocks.get("mlp")  # doctest: +ELLIPSIS
    <...MLP object at ...>
    """

    def __init__(self, family: str) -> None:
        self.family = family
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.family} {name!r} is already registered")
            self._entries[name] = factory
            return factory

        return deco

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def factory(self, name: str) -> Callable[..., T]:
        if name not in self._entries:
            raise ConfigError(one_of(name, self._entries, self.family))
        return self._entries[name]

    def get(self, identifier: str | dict[str, Any] | T, **kwargs: Any) -> T:
        """Return an instance from a name, a ``{"name": ..., "config": {...}}`` dict or an instance."""
        if isinstance(identifier, str):
            return self.factory(identifier)(**kwargs)
        if isinstance(identifier, dict):
            name = identifier.get("name") or identifier.get("class_name")
            if not isinstance(name, str):
                raise ConfigError(f"a {self.family} config needs a `name`, got {show(identifier)}")
            return self.factory(name)(**{**identifier.get("config", {}), **kwargs})
        return identifier
