"""The deployment files as data, for the deploy tests: paths, parsed YAML, the settings the app
reads, compose-style variable interpolation and .dockerignore matching."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import SecretStr

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
SALESFORCE_ENV_EXAMPLE = DEPLOY / "salesforce.env.example"


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or any(_is_secret(arg) for arg in get_args(annotation))


# Every environment variable the app reads: a Settings field, upper-cased (no prefix).
SETTINGS_VARIABLES = frozenset(name.upper() for name in Settings.model_fields)
SECRET_VARIABLES = frozenset(
    name.upper() for name, field in Settings.model_fields.items() if _is_secret(field.annotation))


def yaml_files() -> list[Path]:
    return sorted(path for pattern in ("*.yml", "*.yaml") for path in DEPLOY.rglob(pattern))


def load_documents(path: Path) -> list[Any]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


@cache
def kubernetes_objects() -> dict[tuple[str, str], dict]:
    """(kind, name) -> object, for every Kubernetes object under deploy/k8s."""
    found: dict[tuple[str, str], dict] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for document in load_documents(path):
            if document.get("kind") == "Kustomization":
                continue
            key = (document["kind"], document["metadata"]["name"])
            assert key not in found, f"{key} declared twice (again in {path.name})"
            found[key] = document
    return found


def kubernetes_object(kind: str, name: str) -> dict:
    return kubernetes_objects()[(kind, name)]


@cache
def compose_model() -> dict:
    """The compose file as written (YAML anchors and merge keys resolved, variables not)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_service(name: str) -> dict:
    return compose_model()["services"][name]


VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME:?error}` and `$$` in one value."""

    def substitute(match: re.Match) -> str:
        if match[0] == "$$":
            return "$"
        name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
        present = env.get(name)
        if op.endswith("-"):
            return present if present or (present is not None and op == "-") else arg
        if (op == ":?" and not present) or (op == "?" and present is None):
            raise KeyError(f"required variable {name}: {arg}")
        return present or ""

    return VARIABLE.sub(substitute, str(value))


def referenced_variables(text: str) -> dict[str, str]:
    """Variable name -> its operator (`:-`, `:?`, ...) for every `${...}` in a compose file."""
    return {match["name"]: match["op"] or "" for match in VARIABLE.finditer(text)
            if match[0] != "$$"}


def env_file_entries(path: Path, include_commented: bool = False) -> dict[str, str]:
    """KEY=value lines of an env file; commented-out `# KEY=value` examples too if asked."""
    pattern = re.compile(r"^\s*(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
    entries = {}
    for line in path.read_text().splitlines():
        match = pattern.match(line)
        if match and (include_commented or not match[1]):
            entries[match[2]] = match[3].strip()
    return entries


def _dockerignore_regex(pattern: str) -> re.Pattern:
    parts = []
    for token in re.split(r"(\*\*/|\*\*|\*|\?|\[[^\]]*\])", pattern.strip("/")):
        if token.startswith("[") and token.endswith("]"):
            parts.append("[^" + token[2:] if token.startswith("[!") else token)
        else:
            parts.append({"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                token, re.escape(token)))
    return re.compile("".join(parts))


def dockerignore_excludes(relative_path: str) -> bool:
    """Whether the build context leaves this path out: the last matching pattern decides, and a
    pattern matching a parent folder applies to everything inside it (Docker's rules, minus
    escapes)."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((_dockerignore_regex(line.lstrip("!")), not negated))
    parts = relative_path.split("/")
    candidates = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    excluded = False
    for regex, excludes in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = excludes
    return excluded
