import sys

from blasto.cli.main import main

sys.exit(main())
