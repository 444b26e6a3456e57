"""`driftwise users create` and `driftwise tokens create|revoke` against a real database."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.security import check_password_hash

from monitor.cli import main
from monitor.store import get_engine, session_scope
from monitor.store.models import ApiToken, User
from web.auth import hash_token


def test_users_create_stores_a_hashed_password(sqlite_url):
    result = CliRunner().invoke(
        main, ["users", "create", "Ana@Example.com", "--role", "admin", "--password", "s3cret-pass"]
    )
    assert result.exit_code == 0, result.output
    with session_scope(get_engine(sqlite_url)) as session:
        user = session.scalars(select(User)).one()
        assert user.email == "ana@example.com" and user.role == "admin"
        assert "s3cret-pass" not in user.password_hash
        assert check_password_hash(user.password_hash, "s3cret-pass")


def test_a_short_password_is_refused(sqlite_url):
    result = CliRunner().invoke(main, ["users", "create", "a@b.c", "--password", "short"])
    assert result.exit_code != 0 and "8 characters" in result.output


def test_tokens_create_prints_the_token_once_and_keeps_only_its_hash(sqlite_url):
    result = CliRunner().invoke(main, ["tokens", "create", "deployer", "--role", "admin"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("dw_")
    with session_scope(get_engine(sqlite_url)) as session:
        row = session.scalars(select(ApiToken)).one()
        assert row.token_hash == hash_token(token) and token not in row.token_hash
    revoked = CliRunner().invoke(main, ["tokens", "revoke", "deployer"])
    assert revoked.exit_code == 0
    again = CliRunner().invoke(main, ["tokens", "revoke", "deployer"])
    assert again.exit_code != 0


def test_tokens_and_users_take_the_client_role(sqlite_url):
    token = CliRunner().invoke(main, ["tokens", "create", "checkout-app", "--role", "client"])
    assert token.exit_code == 0, token.output
    user = CliRunner().invoke(
        main,
        ["users", "create", "app@example.com", "--role", "client", "--password", "long-enough"],
    )
    assert user.exit_code == 0, user.output
    with session_scope(get_engine(sqlite_url)) as session:
        assert session.scalars(select(ApiToken.role)).one() == "client"
        assert session.scalars(select(User.role)).one() == "client"
    wrong = CliRunner().invoke(main, ["tokens", "create", "x", "--role", "writer"])
    assert wrong.exit_code != 0 and "client" in wrong.output
    from web import auth, cli

    assert cli.ROLES == list(auth.ROLES)


def test_the_web_refuses_a_schema_that_is_behind(tmp_path, monkeypatch):
    import pytest

    from monitor.errors import SchemaBehind
    from web import create_app

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("DRIFTWISE_DATA_DIR", str(tmp_path))
    with pytest.raises(SchemaBehind, match="driftwise db upgrade"):
        create_app({"DATABASE_URL": url})
