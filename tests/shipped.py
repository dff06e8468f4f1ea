"""What the project ships for users to edit, as the tests' own copy.

The suite never reads the working copy's ``schedules/``, ``templates/`` or
``.env``: a user edits those (the tutorial says to) and must still get a
green run.  Tests that want the shipped templates or the bundled example
read them from ``tests/data/shipped/``, a copy of the committed
``templates/``, ``schedules/`` and ``examples/``
(``tests/e2e/test_isolation.py`` checks it against git's HEAD; refresh it
with ``git archive HEAD templates schedules examples | tar -x -C
tests/data/shipped``).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "tests" / "data" / "shipped"
#: The shipped templates (``<channel-type>/<name>.j2``, ``_partials/``).
TEMPLATES = SHIPPED / "templates"
#: The bundled example: ``schedules/site.toml`` reading ``examples/newsroom.xml``.
EXAMPLE = SHIPPED
