"""The staff web console: server-rendered pages over the same store, engine and policy as the bot.

A channel (floor 6 in ARCHITECTURE.md): it may import storage, the engine and the
bootstrap types; the engine never imports it. :func:`cm_bot.web.app.create_app` builds
the FastAPI application; ``cm-bot console`` serves it with uvicorn.
"""
