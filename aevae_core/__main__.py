"""``python -m aevae_core``: see aevae_core/cli.py."""

import sys

from aevae_core.cli import main

sys.exit(main())
