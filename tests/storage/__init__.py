"""Tests of bot.storage: the repositories on SQLite and PostgreSQL, the migrations."""
