import sys

from blasto.cli import main

sys.exit(main())
