"""Domain errors. Only web/ turns them into HTTP responses, only monitor/cli.py into exit codes."""


class DriftwiseError(Exception):
    """Base class for errors a user can act on."""


class SettingsError(DriftwiseError, ValueError):
    """A DRIFTWISE_* environment variable is missing or malformed."""


class SpecError(DriftwiseError):
    """The spec file is invalid: names the file, the key path and what is wrong."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file, self.key, self.message = file, key, message
        super().__init__(f"{file}: {key}: {message}")


class SchemaBehind(DriftwiseError):
    """The database schema is older than this code."""


class ArtifactRefused(DriftwiseError):
    """A model artifact is not a skops file or contains untrusted types."""


class ArtifactUntrusted(ArtifactRefused):
    """A skops artifact names types or functions that are not trusted; `types` lists them."""

    def __init__(self, types: list[str]) -> None:
        self.types = types
        super().__init__(
            f"artifact names untrusted types: {', '.join(types)} (add exact names to "
            "DRIFTWISE_TRUSTED_TYPES only if you trust their code)"
        )


class RegistryError(DriftwiseError):
    """MLflow's model registry could not be read or written (named: what and why)."""


class ReferenceInvalid(DriftwiseError):
    """Reference data does not match the model's declared columns."""


class DeploymentNotFound(DriftwiseError, LookupError):
    pass


class SourceNotFound(DriftwiseError, LookupError):
    """No source has this name (in this deployment)."""


class ModelNotFound(DriftwiseError, LookupError):
    pass


class VersionNotFound(DriftwiseError, LookupError):
    pass


class WrongDeployment(DriftwiseError):
    """A deployment was named with a model it does not serve."""


class BadRecord(DriftwiseError):
    """One input record cannot be ingested; it goes to quarantine with this reason."""


class BadHalf(BadRecord):
    """A request or response half that cannot be read although its key is known: it is
    quarantined, and its partner is quarantined too instead of waiting forever."""

    def __init__(self, key: str, part: str, reason: str) -> None:
        super().__init__(reason)
        self.key, self.part = key, part


class NotifierError(DriftwiseError):
    """A notification could not be delivered.

    `permanent` means retrying cannot help; `retry_after` (seconds) is the receiver's own
    wish; `disable` asks for the rule to be switched off (a webhook answered 410 Gone).
    """

    def __init__(
        self,
        message: str,
        permanent: bool = False,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        disable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent or disable
        self.status_code = status_code
        self.retry_after = retry_after
        self.disable = disable


class WebhookSignatureError(DriftwiseError):
    """An inbound webhook's signature headers are missing, malformed, wrong or stale."""


class TrainingRefused(DriftwiseError):
    """A retrain job cannot train: too few labeled rows, a single class, no holdout."""


class PromotionError(DriftwiseError):
    """A version cannot be promoted or a deployment cannot be rolled back."""


class ScoringInputInvalid(DriftwiseError):
    """A batch scoring input is missing a feature or holds the wrong type; names the column."""


class LeaseLost(DriftwiseError):
    """Another process took over work whose lease this one let expire."""


class IncidentNotFound(DriftwiseError, LookupError):
    pass


class IncidentClosed(DriftwiseError):
    """An incident that is already resolved cannot be resolved again."""


class RetrainNotPromoted(DriftwiseError):
    """`driftwise retrain --wait` ran a job that promoted nothing; `exit_code` says how it ended:
    3 rejected, 4 failed (or skipped, cancelled), 5 not finished (waiting for an upload, or run
    by another worker)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SourcesFailed(DriftwiseError):
    """One or more sources could not be read to the end (a database or disk error, a
    missing file); what was read before the failure is kept. `driftwise ingest` exits 3."""

    exit_code = 3
