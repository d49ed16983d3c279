"""Channel adapters: the only code that knows a transport (terminal, aiogram, python-telegram-bot)."""
