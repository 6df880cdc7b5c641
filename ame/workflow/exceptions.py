"""Exceptions of the operator workflow, under :class:`~ame_core.exceptions.AmeError`.

Tree::

    AmeError
    ├── InputError (ValueError)
    │   └── ConfigError                     a configuration value is invalid (ame.config)
    └── WorkflowError                       an operator step cannot proceed
        ├── StateError                      the local state conflicts with the inputs or the chain
        ├── FetchError (InputError)         a published document cannot be read
        └── ManagedChainError               the managed local chain cannot be started or found
"""

from __future__ import annotations

from ame_core.exceptions import AmeError, InputError

__all__ = ["FetchError", "ManagedChainError", "StateError", "WorkflowError"]


class WorkflowError(AmeError):
    """An operator workflow step cannot proceed (the message says why and what to do)."""


class StateError(WorkflowError):
    """The operator state conflicts with the inputs given or with the chain."""


class FetchError(WorkflowError, InputError):
    """A published document (manifest, inputs, evidence) cannot be read from its URI."""


class ManagedChainError(WorkflowError):
    """The managed local chain (`ame chain up`) cannot be started, found or stopped."""
