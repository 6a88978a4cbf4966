"""Conversation logic, one module per area. Handlers see only neutral types and injected services."""
