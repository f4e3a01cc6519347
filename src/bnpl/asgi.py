"""The application configured from the environment, for process-per-worker serving."""

from bnpl.app import create_app

app = create_app()
