"""AME's core: what every layer above it shares, and nothing else.

* :mod:`ame_core.exceptions`: the root of the error tree (:class:`AmeError`, :class:`InputError`);
* :mod:`ame_core.documents`: guarded reading of JSON, YAML and TOML documents;
* :mod:`ame_core.validation`: pydantic errors as ``<field path>: <reason>`` messages;
* :mod:`ame_core.canonical`: canonical JSON, the bytes digests are taken of;
* :mod:`ame_core.addresses`: EIP-55 checksums, fast enough for a million accounts;
* :mod:`ame_core.files`: atomic file writes (fsync, then rename);
* :mod:`ame_core.apportion`: exact largest-remainder apportionment of integer amounts;
* :mod:`ame_core.progress`: the progress protocol long work reports through;
* :mod:`ame_core.lazy`: lazy package exports (PEP 562).

It imports no other AME package; ``offchain``, ``ame_chain`` and the application ``ame``
all build on it.
"""

from ame_core.apportion import apportion
from ame_core.exceptions import AmeError, InputError

__all__ = ["AmeError", "InputError", "apportion"]
