"""OpenDeep launcher: `python main.py [run|doctor|migrate|create-user]`.

The thin entry point of the design: the platform is composed in launcher/platform.py,
the commands live in launcher/ (docs/architecture.md).
"""

from __future__ import annotations

import sys

from launcher.cli import main

if __name__ == "__main__":
    sys.exit(main())
