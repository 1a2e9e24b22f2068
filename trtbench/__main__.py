import sys

from trtbench.cli.main import main

sys.exit(main())
