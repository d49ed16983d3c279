"""The Bot API emulator's first home, kept so existing imports and commands work.

The emulator lives in :mod:`cm_bot.testing.botapi` (see there);
``python -m cm_bot.testing.fake_bot_api`` runs it as ``python -m cm_bot.testing.botapi``
does.
"""

from cm_bot.testing import botapi
from cm_bot.testing.botapi import *  # noqa: F403  (the package's public names, as before)
from cm_bot.testing.botapi import main

__all__ = botapi.__all__

if __name__ == "__main__":
    main()
