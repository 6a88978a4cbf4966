"""Placeholder: the telegram channel is being written."""

CHANNEL = "telegram"


def create(app):
    return None, "not built yet"
