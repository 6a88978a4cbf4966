"""The test suite: it mirrors the package tree (bot, handlers, scheduler); fakes of every platform in tests/fakes."""
