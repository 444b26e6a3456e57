"""`driftwise web`, `driftwise users` and `driftwise tokens`."""

from __future__ import annotations

import click

# Kept here, not imported from web.auth, so `driftwise --help` does not load Flask.
ROLES = ["viewer", "client", "admin"]


def serve(
    host: str = "127.0.0.1", port: int = 8080, threads: int | None = None, proxy: str = ""
) -> None:
    """Serve the app with waitress until interrupted (also what `driftwise run` calls)."""
    import waitress

    from web import create_app

    app = create_app()
    from monitor.logs import configure_logging

    configure_logging()
    click.echo(f"Driftwise web on http://{host}:{port}")
    waitress.serve(app, host=host, port=port, **waitress_options(threads, proxy))


def waitress_options(threads: int | None = None, proxy: str = "") -> dict:
    """waitress settings; with a proxy, trust its forwarded client address, scheme and host
    (only from that address), so https is known, cookies are Secure and the login limit
    counts the real client. Slow clients are held by waitress's channels, not its threads:
    enough connections that they cannot fill them, a bounded time to send a request, and
    a body beyond the app's limit refused before it is read."""
    from monitor.settings import current_settings

    settings = current_settings()
    options: dict = {
        "threads": threads or settings.web_threads,
        "connection_limit": settings.web_connection_limit,
        "channel_timeout": settings.web_channel_timeout,
        "cleanup_interval": max(1, min(30, settings.web_channel_timeout // 2)),
        "max_request_body_size": settings.max_body_bytes,
        "ident": "driftwise",
    }
    if proxy:
        options |= {
            "trusted_proxy": proxy,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
        }
    return options


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", type=int, help="Worker threads (default: DRIFTWISE_WEB_THREADS).")
@click.option(
    "--proxy", default="", help="Address of a reverse proxy whose X-Forwarded-* to trust."
)
def web(host: str, port: int, threads: int | None, proxy: str) -> None:
    """Serve the web UI and API with waitress."""
    serve(host, port, threads, proxy)


@click.group()
def users() -> None:
    """Manage web users."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--password", help="Prompted for when not given.")
def create_user_command(email: str, role: str, password: str | None) -> None:
    from monitor.cli import require_schema
    from monitor.store import session_scope
    from web.auth import create_user

    require_schema()
    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.ClickException("a password needs at least 8 characters")
    with session_scope() as session:
        create_user(session, email, password, role)
    click.echo(f"user {email} created ({role})")


@click.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
def create_token_command(name: str, role: str) -> None:
    """Create a token and print it once: only its hash is kept."""
    from monitor.cli import require_schema
    from monitor.store import session_scope
    from web.auth import create_token

    require_schema()
    with session_scope() as session:
        token = create_token(session, name, role)
    click.echo(token)


@tokens.command("revoke")
@click.argument("name")
def revoke_token_command(name: str) -> None:
    from monitor.cli import require_schema
    from monitor.store import session_scope
    from web.auth import revoke_token

    require_schema()
    with session_scope() as session:
        if not revoke_token(session, name):
            raise click.ClickException(f"no active token named {name!r}")
    click.echo(f"token {name} revoked")
