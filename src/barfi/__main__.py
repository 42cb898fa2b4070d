"""`python -m barfi ...`: the command line (`barfi ...`) of this interpreter's installation."""

import sys

from barfi.cli import main

sys.exit(main())
