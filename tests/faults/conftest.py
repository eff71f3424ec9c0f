"""The fault tests use the integration tests' real broker fixtures (embedded tansu)."""
from tests.integration.conftest import broker, topic_prefix  # noqa: F401 - pytest fixtures
