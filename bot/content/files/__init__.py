"""One loader per content file: each reads its file, validates it with its pydantic schema, and fills
its part of the content base (bot.content.loader runs them in order)."""
