"""Placeholder: the zalo_bot channel is being written."""

CHANNEL = "zalo_bot"


def create(app):
    return None, "not built yet"
