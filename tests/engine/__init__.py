"""Tests of bot.engine, the answer engine."""
