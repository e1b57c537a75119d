import sys

from capcut_mate.cli import main

sys.exit(main())
