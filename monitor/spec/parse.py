"""The spec file: parsed strictly into plain dataclasses before anything is written.

Every problem raises SpecError(file, key path, what is wrong), e.g.
`spec.toml: deployments[0].policy.drift_share: expected a number, got 'high'`.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.advice.cost import parse_latency
from monitor.errors import SpecError
from monitor.ingest.kinds import KINDS
from monitor.ingest.readers.sql import query_problem
from monitor.report.performance import ESTIMATED_METRICS, METRICS
from monitor.timeutil import Calendar, parse_duration, zone_of

TASKS = ("classification", "regression")
MODES = ("realtime", "batch")
ACTIONS = ("alert", "retrain")
SEVERITIES = ("info", "warning", "critical")
CHANNELS = ("email", "slack", "teams", "pagerduty")
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
# Names end up in URLs, file names, dedup keys and messages: a safe alphabet only.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_RULE = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
# Where `training_window` counts back from: the newest labeled prediction, or the clock.
WINDOW_ORIGINS = ("newest_label", "now")

RETRAIN_DEFAULTS: dict[str, Any] = {
    "recipe": "clone",
    "training_window": "30d",
    "training_window_from": "newest_label",
    "include_reference": True,
    "holdout": 0.2,
    "min_labeled_rows": 1000,
    "metric": None,
    "min_improvement": 0.0,
    "confidence": 0.95,
    "min_holdout_rows": 200,
    "auto_promote": True,
    "cooldown": "24h",
    "canary_share": 0.0,
    "canary_min_labeled": 200,
    "schedule": None,
}
POLICY_KEYS = {
    "drift_share",
    "features",
    "prediction_drift",
    "missing_share",
    "new_categories",
    "performance",
    "estimated_performance",
    "consecutive",
    "cooldown",
    "actions",
    "expect_data",
}
# [pricing] and [deployments.pricing]: what the serving advice costs each option with.
PRICING_KEYS: dict[str, Any] = {
    "currency": str,
    "instance_hourly": (int, float),
    "instance_throughput": (int, float),
    "min_instances": int,
    "batch_node_hourly": (int, float),
    "batch_startup": "duration",
    "batch_min_billed": "duration",
}
# Keys a source table may carry, beyond `kind`, `name` and `path`.
SOURCE_KEYS = {
    "columns",
    "prediction_key",
    "probability_key",
    "request_id",
    "timestamp",
    "prediction",
    "probability",
    "label",
    "model_version",
    "url",
    "query",
    "watermark",
    "batch_size",
    "positive_class",
    "id_column",
    "label_key",
    "output",
    "threshold",
    "outputs",
    "classes",
    "complete_after",
    "stale_after",
}
OUTPUTS = ("prediction", "probability")


@dataclass
class SourceSpec:
    role: str
    kind: str
    name: str
    config: dict[str, Any]


@dataclass
class ModelSpec:
    name: str
    task: str
    target: str
    prediction: str
    probability: str | None
    numerical: list[str]
    categorical: list[str]
    artifact: Path | str  # a file, or an MLflow registry URI (models:/name@alias)
    reference: Path
    retrain: dict[str, Any]
    probabilities: dict[str, str] | None = None  # multiclass: class -> column


@dataclass
class DeploymentSpec:
    name: str
    model: str
    mode: str
    window: int  # nominal seconds (a month counts 30 days)
    settle: int
    schedule: int | None
    max_rows: int
    min_rows: int
    policy: dict[str, Any]
    sources: list[SourceSpec] = field(default_factory=list)
    window_text: str = "1h"  # `1h`, `1d`, `1w` (from Monday), `1mo` (calendar months)
    timezone: str | None = None  # day, week and month boundaries; None: UTC
    serving: dict[str, Any] = field(default_factory=dict)  # latency target and prices


@dataclass
class AlertSpec:
    channel: str
    targets: list[str]
    events: list[str]
    deployments: list[str]
    min_severity: str
    config: dict[str, Any]


@dataclass
class Spec:
    file: Path
    models: list[ModelSpec]
    deployments: list[DeploymentSpec]
    alerts: list[AlertSpec]


class _Table:
    """A TOML table with its key path, for precise messages."""

    def __init__(self, file: str, path: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise SpecError(file, path or "(top)", f"expected a table, got {_kind(data)}")
        self.file, self.path, self.data = file, path, data

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, message: str) -> SpecError:
        return SpecError(self.file, self.key(name), message)

    def only(self, allowed: set[str]) -> None:
        for name in self.data:
            if name not in allowed:
                raise self.fail(name, f"unknown key (known: {', '.join(sorted(allowed))})")

    def get(
        self, name: str, kind: type | tuple[type, ...], default: Any = ..., required: bool = False
    ) -> Any:
        if name not in self.data:
            if required or default is ...:
                raise self.fail(name, "missing")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(name, f"expected {_names(kinds)}, got {value!r}")
        if not isinstance(value, kinds):
            raise self.fail(name, f"expected {_names(kinds)}, got {value!r}")
        return value

    def name(self, key: str = "name", default: Any = ...) -> str:
        """A model, deployment or source name in the safe alphabet."""
        value = self.get(key, str, default)
        if key in self.data and not NAME.fullmatch(value):
            raise self.fail(key, f"{value!r} is not a valid name: use {NAME_RULE}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(name, str, default)
        if value not in choices:
            raise self.fail(name, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def strings(self, name: str, default: Any = ...) -> list[str]:
        value = self.get(name, list, default)
        if not all(isinstance(item, str) for item in value):
            raise self.fail(name, "expected a list of strings")
        return list(value)

    def duration(self, name: str, default: Any = ...) -> int | None:
        return self.parsed(name, parse_duration, default)

    def parsed(self, name: str, parse: Callable[[str], Any], default: Any = ...) -> Any:
        """A string read by `parse` (None stays None); its ValueError names the key."""
        value = self.get(name, str, default)
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as error:
            raise self.fail(name, str(error)) from None

    def tables(self, name: str) -> list[_Table]:
        items = self.get(name, list, [])
        return [_Table(self.file, f"{self.key(name)}[{i}]", item) for i, item in enumerate(items)]

    def path_of(self, name: str, base: Path) -> Path:
        value = self.get(name, str, required=True)
        path = (base / value).resolve()
        if not path.is_file():
            raise self.fail(name, f"file not found: {path}")
        return path


def _kind(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def _names(kinds: tuple[type, ...]) -> str:
    words = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(words.get(kind, kind.__name__) for kind in kinds)


def load_spec(path: str | Path) -> Spec:
    path = Path(path)
    file = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(file, "(file)", "not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SpecError(file, "(syntax)", str(error)) from None
    top = _Table(file, "", data)
    top.only({"models", "deployments", "alerts", "webhooks", "pricing"})
    base = path.resolve().parent
    models = [_model(table, base) for table in top.tables("models")]
    _unique(file, "models", [model.name for model in models])
    known = {model.name: model for model in models}
    pricing = _pricing(_Table(file, "pricing", top.get("pricing", dict, {})))
    deployments = [_deployment(table, known, pricing) for table in top.tables("deployments")]
    _unique(file, "deployments", [deployment.name for deployment in deployments])
    alerts = [_alert(table) for table in top.tables("alerts")]
    alerts += [_webhook(table) for table in top.tables("webhooks")]
    return Spec(path, models, deployments, alerts)


def _unique(file: str, key: str, names: list[str]) -> None:
    for i, name in enumerate(names):
        if name in names[:i]:
            raise SpecError(file, f"{key}[{i}].name", f"{name!r} is declared twice")


def _model(table: _Table, base: Path) -> ModelSpec:
    table.only(
        {
            "name",
            "task",
            "target",
            "prediction",
            "probability",
            "probabilities",
            "numerical",
            "categorical",
            "artifact",
            "reference",
            "retrain",
        }
    )
    task = table.choice("task", TASKS)
    numerical, categorical = table.strings("numerical", []), table.strings("categorical", [])
    if not numerical and not categorical:
        raise table.fail("numerical", "declare at least one numerical or categorical feature")
    for name in set(numerical) & set(categorical):
        raise table.fail("categorical", f"{name!r} is also numerical")
    return ModelSpec(
        name=table.name(),
        task=task,
        target=table.get("target", str, required=True),
        prediction=table.get("prediction", str, "prediction"),
        probability=table.get("probability", str, None),
        numerical=numerical,
        categorical=categorical,
        artifact=_artifact(table, base),
        reference=table.path_of("reference", base),
        retrain=_retrain(
            _Table(table.file, table.key("retrain"), table.get("retrain", dict, {})), task
        ),
        probabilities=_probabilities(table, task),
    )


def _probabilities(table: _Table, task: str) -> dict[str, str] | None:
    columns = table.get("probabilities", dict, None)
    if columns is None:
        return None
    if task != "classification":
        raise table.fail("probabilities", "only a classification model has class probabilities")
    if "probability" in table.data:
        raise table.fail("probabilities", "give probability (binary) or probabilities, not both")
    if len(columns) < 2 or not all(isinstance(name, str) for name in columns.values()):
        raise table.fail("probabilities", 'expected { class = "column", ... } for 2+ classes')
    return dict(columns)


def _artifact(table: _Table, base: Path) -> Path | str:
    value = table.get("artifact", str, required=True)
    if not value.startswith("models:/"):
        return table.path_of("artifact", base)
    from monitor.errors import RegistryError
    from monitor.registry.mlflow import parse_uri

    try:
        parse_uri(value)
    except RegistryError as error:
        raise table.fail("artifact", str(error)) from None
    return value


def _retrain(table: _Table, task: str) -> dict[str, Any]:
    table.only(set(RETRAIN_DEFAULTS))
    settings = dict(RETRAIN_DEFAULTS)
    settings.update(table.data)
    recipe = table.get("recipe", str, "clone")
    if recipe not in ("clone", "external") and ":" not in recipe:
        raise table.fail("recipe", "must be clone, external or package.module:function")
    table.duration("training_window", "30d")
    table.choice("training_window_from", WINDOW_ORIGINS, "newest_label")
    table.duration("cooldown", "24h")
    table.duration("schedule", None)
    table.get("include_reference", bool, True)
    table.get("auto_promote", bool, True)
    table.get("min_labeled_rows", int, 1000)
    table.get("canary_min_labeled", int, 200)
    table.get("min_improvement", (int, float), 0.0)
    if table.get("min_holdout_rows", int, 200) < 1:
        raise table.fail("min_holdout_rows", "must be at least 1")
    confidence = table.get("confidence", (int, float), 0.95)
    if not 0 <= confidence < 1:
        raise table.fail("confidence", f"must be at least 0 and below 1, got {confidence}")
    _metric(table, METRICS[task], task)
    for name in ("holdout", "canary_share"):
        share = table.get(name, (int, float), RETRAIN_DEFAULTS[name])
        if not 0 <= share < 1:
            raise table.fail(name, f"must be at least 0 and below 1, got {share}")
    return settings


def _calendar(table: _Table) -> Calendar:
    zone = table.get("timezone", str, None)
    try:
        zone_of(zone)
    except ValueError as error:
        raise table.fail("timezone", str(error)) from None
    try:
        return Calendar.parse(table.get("window", str, "1h"), zone)
    except ValueError as error:
        raise table.fail("window", str(error)) from None


def _deployment(
    table: _Table, models: dict[str, ModelSpec], pricing: dict[str, Any]
) -> DeploymentSpec:
    table.only(
        {
            "name",
            "model",
            "mode",
            "window",
            "timezone",
            "settle",
            "schedule",
            "max_rows",
            "min_rows",
            "policy",
            "sources",
            "labels",
            "latency_target",
            "pricing",
        }
    )
    model = table.get("model", str, required=True)
    if model not in models:
        raise table.fail(
            "model", f"unknown model {model!r} (declared: {', '.join(models) or 'none'})"
        )
    calendar = _calendar(table)
    deployment = DeploymentSpec(
        name=table.name(),
        model=model,
        mode=table.choice("mode", MODES),
        window=calendar.seconds,
        window_text=calendar.text,
        timezone=table.get("timezone", str, None),
        settle=table.duration("settle", "5m"),
        schedule=table.duration("schedule", None),
        max_rows=table.get("max_rows", int, 50000),
        min_rows=table.get("min_rows", int, 200),
        policy=_policy(
            _Table(table.file, table.key("policy"), table.get("policy", dict, {})), models[model]
        ),
    )
    if deployment.max_rows < 1000:
        raise table.fail("max_rows", "must be at least 1000")
    own = _pricing(_Table(table.file, table.key("pricing"), table.get("pricing", dict, {})))
    deployment.serving = {
        "latency_target": table.parsed("latency_target", parse_latency, None),
        "pricing": pricing | own,
    }
    for role, key in (("predictions", "sources"), ("labels", "labels")):
        deployment.sources += [_source(source, role) for source in table.tables(key)]
    _unique(table.file, table.key("sources"), [f"{s.role}:{s.name}" for s in deployment.sources])
    return deployment


def _policy(table: _Table, model: ModelSpec) -> dict[str, Any]:
    table.only(POLICY_KEYS)
    for name in ("drift_share", "missing_share"):
        share = table.get(name, (int, float), None)
        if share is not None and not 0 <= share <= 1:
            raise table.fail(name, f"must be between 0 and 1, got {share}")
    features = table.get("features", dict, {})
    for name, threshold in features.items():
        if name not in (*model.numerical, *model.categorical):
            raise SpecError(
                table.file,
                f"{table.key('features')}.{name}",
                f"not a feature of model {model.name!r}",
            )
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise SpecError(table.file, f"{table.key('features')}.{name}", "expected a number")
    table.get("prediction_drift", bool, False)
    table.get("new_categories", (bool, int, float), False)
    table.get("expect_data", bool, True)
    for name, known in (("performance", METRICS), ("estimated_performance", ESTIMATED_METRICS)):
        rule = _Table(table.file, table.key(name), table.get(name, dict, {}))
        _threshold(rule, known[model.task], model.task)
    if table.get("consecutive", int, 1) < 1:
        raise table.fail("consecutive", "must be at least 1")
    table.duration("cooldown", None)
    for action in table.strings("actions", ["alert"]):
        if action not in ACTIONS:
            raise table.fail("actions", f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
    return dict(table.data)


def _pricing(table: _Table) -> dict[str, Any]:
    """Prices for the serving advice: only the keys given (the rest stay placeholders)."""
    table.only(set(PRICING_KEYS))
    prices: dict[str, Any] = {}
    for name, kind in PRICING_KEYS.items():
        if name not in table.data:
            continue
        if kind == "duration":
            prices[f"{name}_seconds"] = float(table.duration(name))
        elif kind is str:
            prices[name] = table.get(name, str)
        else:
            value = table.get(name, kind)
            if value <= 0:
                raise table.fail(name, f"must be positive, got {value}")
            prices[name] = value
    return prices


def _threshold(table: _Table, known: tuple[str, ...], task: str) -> None:
    if not table.data:
        return
    table.only({"metric", "min", "max", "max_drop"})
    _metric(table, known, task, required=True)
    bounds = [name for name in ("min", "max", "max_drop") if name in table.data]
    if not bounds:
        raise table.fail("min", "give min, max or max_drop")
    for name in bounds:
        table.get(name, (int, float))


def _metric(table: _Table, known: tuple[str, ...], task: str, required: bool = False) -> None:
    metric = table.get("metric", str, ... if required else None)
    if metric is not None and metric not in known:
        raise table.fail("metric", f"unknown {task} metric {metric!r} (known: {', '.join(known)})")


def _source(table: _Table, role: str) -> SourceSpec:
    kind = table.get("kind", str, required=True)
    if kind not in KINDS:
        raise table.fail("kind", f"unknown kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    if role not in KINDS[kind][2]:
        raise table.fail("kind", f"{kind} cannot read {role}")
    table.only({"kind", "name", "path"} | SOURCE_KEYS)
    table.duration("stale_after", None)
    if kind == "sql":
        table.get("url", str, required=True)
        table.get("query", str, required=True)
        table.get("watermark", str, required=True)
        problem = query_problem(table.data["query"], table.data["watermark"])
        if problem is not None:
            raise table.fail(*problem)
    else:
        table.get("path", str, required=True)
    _output_keys(table)
    config = {key: value for key, value in table.data.items() if key not in ("kind", "name")}
    default_name = f"{kind}:{config.get('path') or config.get('query')}"[:200]
    if "path" in config and "://" not in config["path"]:
        config["path"] = str((Path(table.file).resolve().parent / config["path"]).resolve())
    return SourceSpec(role=role, kind=kind, name=table.name("name", default_name), config=config)


def _output_keys(table: _Table) -> None:
    """How a source's outputs read: a lone score as the probability, classes, none at all."""
    table.choice("output", OUTPUTS, "prediction")
    threshold = table.get("threshold", (int, float), 0.5)
    if not 0 <= threshold <= 1:
        raise table.fail("threshold", f"must be between 0 and 1, got {threshold}")
    if "threshold" in table.data and table.data.get("output") != "probability":
        raise table.fail("threshold", 'needs output = "probability"')
    table.get("outputs", bool, True)
    classes = table.get("classes", list, [])
    if any(isinstance(c, bool) or not isinstance(c, str | int | float) for c in classes):
        raise table.fail("classes", "expected a list of class names or numbers")
    if len(set(map(str, classes))) != len(classes):
        raise table.fail("classes", "lists a class twice")
    table.duration("complete_after", None)


def _alert(table: _Table) -> AlertSpec:
    common = {"channel", "events", "deployments", "min_severity", "cooldown"}
    channel = table.choice("channel", CHANNELS)
    if channel == "email":
        table.only(common | {"to"})
        targets = table.strings("to")
        for address in targets:
            if "@" not in address:
                raise table.fail("to", f"not an email address: {address!r}")
    elif channel == "pagerduty":
        table.only(common | {"routing_key", "routing_key_env", "url"})
        if "routing_key" not in table.data and "routing_key_env" not in table.data:
            raise table.fail("routing_key_env", "missing: give routing_key or routing_key_env")
        url = _http_url(table, "url", PAGERDUTY_URL)
        key = table.get("routing_key_env", str, None) or table.get("routing_key", str)
        # The fragment tells rules to one URL apart; it is never sent.
        targets = [f"{url}#{key if 'routing_key_env' in table.data else _fingerprint(key)}"]
    else:  # slack, teams: a webhook URL, or the variable that holds it
        table.only(common | {"url", "url_env"})
        if "url_env" in table.data:
            targets = [f"env:{table.get('url_env', str)}"]
        else:
            targets = [_http_url(table, "url", ...)]
    table.duration("cooldown", None)
    config = {"cooldown": table.data["cooldown"]} if "cooldown" in table.data else {}
    config |= {k: table.get(k, str) for k in ("routing_key", "routing_key_env") if k in table.data}
    return AlertSpec(
        channel=channel,
        targets=targets,
        events=table.strings("events", ["*"]),
        deployments=table.strings("deployments", ["*"]),
        min_severity=table.choice("min_severity", SEVERITIES, "info"),
        config=config,
    )


def _http_url(table: _Table, name: str, default: Any) -> str:
    url = table.get(name, str, default)
    if not url.startswith(("http://", "https://")):
        raise table.fail(name, f"must be an http(s) URL, got {url!r}")
    return url


def _fingerprint(secret: str) -> str:
    return "key-" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def _webhook(table: _Table) -> AlertSpec:
    table.only({"url", "secret_env", "secret", "events", "deployments", "min_severity"})
    url = table.get("url", str, required=True)
    if not url.startswith(("http://", "https://")):
        raise table.fail("url", f"must be an http(s) URL, got {url!r}")
    if "secret_env" not in table.data and "secret" not in table.data:
        raise table.fail("secret_env", "missing: webhooks are always signed")
    config = {key: table.get(key, str) for key in ("secret_env", "secret") if key in table.data}
    return AlertSpec(
        channel="webhook",
        targets=[url],
        events=table.strings("events", ["*"]),
        deployments=table.strings("deployments", ["*"]),
        min_severity=table.choice("min_severity", SEVERITIES, "info"),
        config=config,
    )
