"""``python -m cm_bot.cli`` runs the command line, as ``cm-bot`` does."""

from cm_bot.cli import main

main()
