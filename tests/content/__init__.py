"""Tests of bot.content: loading and validating the content files."""
