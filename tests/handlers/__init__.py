"""Tests of handlers: the conversation logic, Incoming in and Replies out, no channel."""
