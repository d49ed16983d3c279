"""Channel adapters: the only code that knows a transport (terminal, aiogram, PTB)."""
