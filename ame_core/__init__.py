"""AME's core: what every layer above it shares and nothing else.

The root of the error tree (:mod:`ame_core.exceptions`), guarded reading of JSON, YAML
and TOML documents (:mod:`ame_core.documents`), exact largest-remainder apportionment
of integer amounts (:mod:`ame_core.apportion`) and lazy package exports
(:mod:`ame_core.lazy`). It imports no other AME package; ``offchain``, ``ame_chain`` and
the application ``ame`` all build on it.
"""

from ame_core.apportion import apportion
from ame_core.exceptions import AmeError, InputError

__all__ = ["AmeError", "InputError", "apportion"]
