"""``python -m krea_async._cli``: the ``krea-async`` command."""

from . import main

main()
