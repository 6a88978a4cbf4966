"""Developer tool: autogenerate a migration from the models.

    python -m bot.storage.revision "message"        # a new revision on top of head
    python -m bot.storage.revision --rewrite-initial # regenerate 0001 (only before the first release)
"""

import asyncio
import sys
import tempfile

from alembic import command

from bot.storage.db import MIGRATIONS_DIR, alembic_config, create_engine


async def main(argv: list[str]) -> None:
    """Autogenerate a migration from the models (--rewrite-initial: regenerate 0001 instead)."""
    rewrite = "--rewrite-initial" in argv
    message = next((a for a in argv if not a.startswith("--")), "schema change")
    if rewrite:
        for old in (MIGRATIONS_DIR / "versions").glob("0001_*.py"):
            old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp}/rev.db")

        def run(sync_conn):
            cfg = alembic_config()
            cfg.attributes["connection"] = sync_conn
            if rewrite:
                command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
            else:
                command.upgrade(cfg, "head")
                command.revision(cfg, message=message, autogenerate=True)

        async with engine.begin() as conn:
            await conn.run_sync(run)
        await engine.dispose()
    if rewrite:
        for new in (MIGRATIONS_DIR / "versions").glob("0001_initial_schema.py"):
            print(f"rewrote {new}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
