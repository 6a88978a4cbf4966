"""The staff console: server-rendered pages under /console over the same services as the CLI."""
