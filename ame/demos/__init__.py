"""Runnable stories of the whole product: :mod:`~ame.demos.settlement` (the contract's life
cycle on its own) and :mod:`~ame.demos.market` (train, attribute, map, settle, audit,
claim and report on the reference market)."""
