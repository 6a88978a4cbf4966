"""Placeholder: the scheduler is being written."""


def create_scheduler(app):
    return None
