"""Placeholder until the module lands (being written now)."""


def register(sub):
    pass
