"""``python -m ame_chain.cli``: the same as the ``ame`` console script."""

from ame_chain.cli import main

main()
