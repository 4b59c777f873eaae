import sys

from analogjax.models._cli import main

sys.exit(main())
