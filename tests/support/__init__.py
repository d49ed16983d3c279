"""Helpers the tests share: people who talk to the bot, and readers of what the database holds.

Fixtures live in the ``conftest.py`` files (pytest finds them there); everything a test
imports comes from here, never from a conftest module.
"""
