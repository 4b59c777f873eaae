"""``python -m analogjax.models``: the ``analogjax`` command line."""

import sys

from ._cli import main

sys.exit(main())
