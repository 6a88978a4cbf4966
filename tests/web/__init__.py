"""Tests of the web chat: the adapter over real WebSockets, the page and the widget in a browser."""
