"""``python -m cm_bot`` runs the command line."""

from cm_bot.cli import main

main()
