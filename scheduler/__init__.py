"""Campaign calendar, broadcast scheduling and the delivery dispatcher (outbox, rate limits, retries)."""
