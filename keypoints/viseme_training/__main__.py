"""``python -m keypoints.viseme_training``: the mouth-shape model's whole recipe (recipe.py)."""

import sys

from keypoints.viseme_training.recipe import main

sys.exit(main())
