"""``python -m fastpipesim``: the same as the ``fastpipesim`` command."""
import sys

from .cli import main

sys.exit(main())
