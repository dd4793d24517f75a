"""``python -m conda_torch``: the same CLI as ``conda torch`` where conda is absent."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
