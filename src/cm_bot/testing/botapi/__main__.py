"""``python -m cm_bot.testing.botapi``: the emulator standalone (see :func:`main`)."""

from cm_bot.testing.botapi.cli import main

main(prog="python -m cm_bot.testing.botapi")
