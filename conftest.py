"""pytest set-up shared by the unit tests and the notebooks that nbval runs."""

import os

# Tests and notebooks under test train at smoke scale and print text progress bars
# (fer_edu.plots draws headless by itself outside a notebook).
os.environ["FER_EDU_SCALE"] = "smoke"
os.environ["FER_EDU_TEXT_PROGRESS"] = "1"

collect_ignore_glob = ["_build/*", ".venv/*", "runs/*", "data/*"]
