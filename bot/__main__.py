"""`python -m bot` is the same as the `chonnghe` command."""

from bot.cli import main

raise SystemExit(main())
