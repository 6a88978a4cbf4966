"""Fixtures for the CLI tests, shared with the folders of what the commands drive: the fake content
holder and settings of the handler tests (chat), the scheduler tests' content folder (staff commands)."""

from tests.handlers.conftest import holder, hsettings  # noqa: F401 - fixtures, found by pytest by name
from tests.scheduler.conftest import content_dir  # noqa: F401 - a fixture, found by pytest by name
