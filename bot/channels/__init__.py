"""Channel adapters: one small module per platform, platform updates in as Incoming, Replies out as calls."""
