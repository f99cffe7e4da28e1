class CorpusError(ValueError):
    """A corpus cannot be loaded; the message is one line meant for the user."""
