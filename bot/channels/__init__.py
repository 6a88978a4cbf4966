"""Channel adapters: one small module per platform, each turning platform updates into Incoming and Replies into platform calls."""
