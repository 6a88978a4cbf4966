"""Staff broadcast commands (/guitin, /lichgui): being written by the scheduler work."""

from handlers.router import Router

router = Router()
