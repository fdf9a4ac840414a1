"""``python -m k8s_assets`` is the ``k8s-assets`` command."""

import sys

from k8s_assets.cli import main

sys.exit(main())
