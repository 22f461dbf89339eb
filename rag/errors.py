"""The error family. Each message says what to do next."""


class RagError(Exception):
    """Base class for errors the CLI turns into one line and exit code 1."""


class ConfigError(RagError):
    """A setting is missing or wrong."""


class ModelError(RagError):
    """A model could not be prepared or loaded."""


class StoreError(RagError):
    """The index could not be opened, written or is in use."""


class IngestError(RagError):
    """A single file could not be read; ingestion skips it and goes on."""


class NotFoundError(RagError):
    """A named knowledge base or document does not exist."""
