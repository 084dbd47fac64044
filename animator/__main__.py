import sys

from animator.cli.main import main

sys.exit(main())
