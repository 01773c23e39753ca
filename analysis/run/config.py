"""The study configuration: one YAML analysis plan that every notebook receives.

Resolution order: the package defaults (``analysis/default_config.yaml``), then a study config
file, then ``-p key=value`` overrides. Every key must be a parameter that some notebook declares
in its ``parameters`` cell; an unknown key is an error that lists the known names (papermill on
its own only warns, so a typo would silently run the default analysis).
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path

import yaml

from analysis.core.exceptions import ConfigError

RUNNER_PARAMETERS = ("data_dir", "run_dir", "cohort_file")  # set by the runner, not by a config


def default_config() -> dict:
    """Return the package's default analysis plan as a dict (a fresh copy)."""
    text = resources.files("analysis").joinpath("default_config.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def read_config(path: str | Path) -> dict:
    """Read a study config file; raise :class:`ConfigError` if it is missing or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of parameter names to values")
    return data


def parse_override(text: str) -> tuple[str, object]:
    """Parse one ``key=value`` override; the value is read as YAML (``3``, ``[a, b]``, ``true``)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value")
    key, value = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has no key")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: cannot read the value: {exc}") from exc
    return key, parsed


def _set_dotted(config: dict, key: str, value, known: set[str]) -> None:
    head, _, rest = key.partition(".")
    if head not in known:
        raise ConfigError(_unknown_message([head], known))
    if not rest:
        config[head] = value
        return
    target = config.get(head)
    if not isinstance(target, dict) or rest not in target:
        sub = sorted(target) if isinstance(target, dict) else []
        raise ConfigError(f"unknown key {key!r}: '{head}' has the keys {sub}")
    target[rest] = value


def _unknown_message(unknown, known) -> str:
    names = ", ".join(sorted(known))
    return f"unknown parameter(s) {sorted(unknown)}: no notebook declares them. Known parameters: {names}"


def resolve_config(
    known: set[str], config_path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> dict:
    """Return the resolved analysis plan.

    Parameters
    ----------
    known : set of str
        Names declared in the notebooks' ``parameters`` cells.
    config_path : path, optional
        A study config overriding the defaults.
    overrides : list of str
        ``key=value`` strings applied last.

    Raises
    ------
    ConfigError
        A key that no notebook declares (the message lists the known names), or an unreadable
        file or override.
    """
    known = set(known) - set(RUNNER_PARAMETERS)
    config = default_config()
    stray_defaults = set(config) - known
    if stray_defaults:
        raise ConfigError(
            f"the package's default config names parameters no notebook declares: {sorted(stray_defaults)}"
        )
    if config_path is not None:
        study = read_config(config_path)
        unknown = set(study) - known
        if unknown:
            raise ConfigError(f"{config_path}: " + _unknown_message(unknown, known))
        for key, value in study.items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                bad = set(value) - set(config[key])
                if bad:
                    raise ConfigError(
                        f"{config_path}: unknown key(s) {sorted(bad)} under '{key}'; known: {sorted(config[key])}"
                    )
                config[key] = {**config[key], **value}
            else:
                config[key] = value
    config = copy.deepcopy(config)
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(config, key, value, known)
    return config
