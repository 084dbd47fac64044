import sys

from animator.cli import main

sys.exit(main())
