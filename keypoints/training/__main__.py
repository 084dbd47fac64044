"""``python -m keypoints.training``: the learned MappingNet's whole recipe (recipe.py)."""

import sys

from keypoints.training.recipe import main

sys.exit(main())
