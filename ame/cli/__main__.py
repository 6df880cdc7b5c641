"""``python -m ame.cli``: the same as the ``ame`` console script."""

from ame.cli import main

main()
