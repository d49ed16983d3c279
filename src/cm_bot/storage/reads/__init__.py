"""What the console reads: the caseload, one case's timeline, the program's reports.

Read-only queries in one session each, kept in storage with the rest of the SQL; the
console (``cm_bot.web``) renders them. Who may see what is decided by
:func:`cm_bot.engine.staff_access.sees_case`, the same rule as the bot's.
"""
