"""The test suite: it mirrors the package tree (bot, handlers, scheduler); platform fakes in tests/fakes."""
