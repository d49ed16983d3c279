"""``cm-bot console``: serve the staff web console, or print a sign-in link for someone."""

from __future__ import annotations

from typing import Annotated

import typer

from cm_bot.cli._common import admin

console_app = typer.Typer(
    help="The staff web console: serve it, or print a sign-in link.",
    invoke_without_command=True,
    rich_markup_mode=None,
)


@console_app.callback()
def console(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
) -> None:
    """Serve the staff web console.

    Staff sign in with a single-use link: /console in the bot, or cm-bot console link
    NAME. Put a TLS-terminating proxy in front and set CM_BOT_CONSOLE_URL to its public
    https URL (the session cookie is then Secure).
    """
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from cm_bot.cli._common import admin_app
    from cm_bot.web.app import create_app

    application = admin_app()
    try:
        uvicorn.run(create_app(application), host=host, port=port, log_level="info")
    finally:
        application.close()


@console_app.command("link")
def console_link(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The staff member's name.")],
) -> None:
    """Print a staff member's sign-in link (single use, 10 minutes).

    The link is audited. CM_BOT_CONSOLE_URL is its base (http://127.0.0.1:8090 if unset).
    """
    from cm_bot.storage.admin import cli_actor
    from cm_bot.storage.console_sessions import console_link as make_link

    with admin() as application:
        base = application.settings.console_url or "http://127.0.0.1:8090"
        token = make_link(application.db, name, cli_actor(), application.clock.now())
    typer.echo(f"{base.rstrip('/')}/login/{token}")


@console_app.command("revoke")
def console_revoke(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The staff member's name.")],
) -> None:
    """End a staff member's console sessions now (a lost or shared device).

    Their unused sign-in links are spent too; their Telegram access stays (to end that
    as well, use cm-bot staff deactivate). Audited.
    """
    from cm_bot.storage.admin import cli_actor
    from cm_bot.storage.console_sessions import sign_out_everywhere

    with admin() as application:
        ended = sign_out_everywhere(application.db, name, cli_actor(), application.clock.now())
    typer.echo(f"{name}: {ended} console session(s) ended")
