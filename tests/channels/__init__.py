"""Tests of bot.channels: each adapter against its platform fake on loopback."""
