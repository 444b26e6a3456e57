"""Security headers and error responses (JSON with a message; never a stack trace)."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from monitor.errors import (
    ArtifactRefused,
    ArtifactUntrusted,
    BadRecord,
    DeploymentNotFound,
    DriftwiseError,
    IncidentNotFound,
    ModelNotFound,
    RegistryError,
    ScoringInputInvalid,
    SourceNotFound,
    VersionNotFound,
    WrongDeployment,
)

log = logging.getLogger(__name__)

# Plotly adds <style> elements at run time, hence 'unsafe-inline' for styles only.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Evidently's report is one HTML file of inline scripts: it runs sandboxed, in an opaque
# origin without our cookies, may reach nothing on the network, open no window, submit no
# form, navigate no other frame, and be framed only by our run page.
REPORT_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
    "form-action 'none'; base-uri 'none'; sandbox allow-scripts; frame-ancestors 'self'"
)
REPORT_ENDPOINTS = {"pages.run_report"}


def init_app(app: Flask) -> None:
    app.after_request(_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DriftwiseError, _domain_error)
    app.register_error_handler(Exception, _unexpected)


def _headers(response: Response) -> Response:
    report = request.endpoint in REPORT_ENDPOINTS
    response.headers["Content-Security-Policy"] = REPORT_CSP if report else PAGE_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN" if report else "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if report:
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if request.endpoint not in ("static", "pages.plotly_js"):
        response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def _respond(status: int, message: str):
    from web import rollback

    rollback()
    if request.path.startswith(("/api/", "/hooks/")):
        return jsonify(error=message), status
    return render_template("error.html", status=status, message=message), status


def _http_error(error: HTTPException):
    return _respond(error.code or 500, error.description or error.name)


def _domain_error(error: DriftwiseError):
    if isinstance(
        error,
        DeploymentNotFound | ModelNotFound | VersionNotFound | SourceNotFound | IncidentNotFound,
    ):
        return _respond(404, str(error))
    if isinstance(error, ArtifactUntrusted):
        return _respond(422, str(error))
    if isinstance(error, BadRecord | ScoringInputInvalid | ArtifactRefused | WrongDeployment):
        return _respond(400, str(error))
    if isinstance(error, RegistryError):  # MLflow failed us, not the client
        return _respond(502, str(error))
    return _respond(409, str(error))


def _unexpected(error: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _respond(500, "internal error: see the server log")
