"""publisher: a newsroom social desk."""
