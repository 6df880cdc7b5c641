"""The AME application: the operator's workflow, its configuration and records, the
report, the demos, and the ``ame`` command on top.

It is the only layer that knows about files on the operator's disk, progress bars and
command-line flags; it drives the libraries below it: :mod:`offchain` (attribution and
mapping) and :mod:`ame_chain` (the settlement contract's chain code).

Subpackages: :mod:`ame.workflow` (settle, audit, challenge, finalise, claim, with a
durable local state), :mod:`ame.config` (``ame.toml`` and ``AME_*``),
:mod:`ame.deployment` (deployment records), :mod:`ame.report` (the HTML report),
:mod:`ame.demos` (the settlement and market demos) and :mod:`ame.cli`.
"""
