"""Tests of bot.cli: the commands people type (ask, chat, the staff commands)."""
