"""Placeholder: the zalo_oa channel is being written."""

CHANNEL = "zalo_oa"


def create(app):
    return None, "not built yet"
