"""docker/: the compose file parses, has every service with a health check, and runs
only `parcelflow` commands, each parsed by the real CLI with its options."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer
import yaml

from parcelflow.entrypoints.cli import app

DOCKER = Path(__file__).resolve().parents[2] / "docker"
INFRASTRUCTURE = {"postgres", "kafka", "redis"}
README = DOCKER.parent / "README.md"
PROCESSES = {"api", "ingest", "projections", "relay", "notifications", "webhooks",
             "detectors", "checkpoints"}


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def parcelflow_commands(services: dict) -> list[tuple[str, list[str]]]:
    found = []
    for name, service in services.items():
        if name in INFRASTRUCTURE:
            continue
        found.append((name, service["command"]))
        test = service["healthcheck"]["test"]
        if test[1] == "parcelflow":
            found.append((f"{name} healthcheck", test[1:]))
    return found


def test_every_service_is_there_with_a_health_check():
    services = compose()["services"]
    assert set(services) == INFRASTRUCTURE | PROCESSES
    for name, service in services.items():
        test = service["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
    assert services["postgres"]["image"].startswith("postgres:")
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")  # the official image
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert not any("ZOOKEEPER" in key for key in kafka["environment"])
    for name in PROCESSES:
        env = services[name]["environment"]
        assert env["PARCELFLOW_DATABASE_URL"].startswith("postgresql://")
        assert env["PARCELFLOW_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert services[name]["depends_on"], name
    assert services["api"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_command_is_a_registered_parcelflow_command_with_valid_options():
    registered = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    checked = set()
    for where, command in parcelflow_commands(compose()["services"]):
        assert command[0] == "parcelflow", where
        assert command[1] in registered, f"{where}: `parcelflow {command[1]}` does not exist"
        registered[command[1]].make_context(command[1], list(command[2:]))  # bad option: raises
        checked.add(command[1])
    # The services: API, projections, ingest workers, relay, notifications, detectors,
    # checkpoints.
    assert {"serve", "project", "ingest-worker", "relay", "notify", "detect",
            "health"} <= checked


def test_the_image_runs_parcelflow():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert 'CMD ["parcelflow", "serve"]' in dockerfile
    for folder in ("src", "projections", "consumers"):  # both extra packages are installed
        assert f"COPY {folder} ./{folder}" in dockerfile
    assert "USER parcelflow" in dockerfile


def test_env_example_names_only_real_settings():
    from parcelflow.settings import Settings

    example = (DOCKER.parent / ".env.example").read_text()
    names = {line.lstrip("# ").split("=", 1)[0] for line in example.splitlines()
             if "=" in line and line.lstrip("# ").startswith("PARCELFLOW_")}
    fields = {f"PARCELFLOW_{name.upper()}" for name in Settings.model_fields}
    assert names == fields  # every setting documented, nothing stale
    parsed = Settings(_env_file=DOCKER.parent / ".env.example")  # it loads as it stands
    assert parsed.api_max_body_bytes == 1_048_576
    assert parsed.api_ready_projections == ["tracking", "exceptions"]
    assert parsed.api_signature_tolerance.total_seconds() == 300


def _compose_commands(block: str) -> list[list[str]]:
    commands = []
    for command in " ".join(block.replace("\\\n", " ").splitlines()).split("docker ")[1:]:
        words = shlex.split(command.split("#")[0], comments=False)
        if words and words[0] == "compose":
            commands.append(words[1:])
    return commands


def _interpolation_file(args: list[str], cwd: Path) -> Path:
    """Where `docker compose` reads the variables it substitutes: --env-file if given,
    else `.env` in the project directory (--project-directory, else the folder of the
    first -f file) — compose's documented rule."""
    def option(name: str) -> str | None:
        return args[args.index(name) + 1] if name in args else None

    if option("--env-file"):
        return (cwd / option("--env-file")).resolve()  # type: ignore[operator]
    project = option("--project-directory") or str(Path(option("-f") or ".").parent)
    return (cwd / project / ".env").resolve()


def test_the_readme_recipe_reaches_compose():
    text = README.read_text()
    section = text[text.index("## Running it with Docker"):]
    block = section[section.index("```sh") + 5:]
    block = block[:block.index("```")]
    copied = shlex.split(next(line for line in block.splitlines()
                              if line.startswith("cp .env.example")).split("#")[0])
    written = (DOCKER.parent / copied[2]).resolve()
    commands = _compose_commands(block)
    assert commands, "the recipe runs docker compose"
    for args in commands:
        assert _interpolation_file(args, DOCKER.parent) == written, args
    # The services read the same file for their own environment.
    env_files = compose()["x-parcelflow"]["env_file"]
    assert [(DOCKER / e["path"]).resolve() for e in env_files] == [written]
    # And the database password is substituted from it on both sides.
    raw = (DOCKER / "compose.yaml").read_text()
    assert raw.count("${POSTGRES_PASSWORD:-parcelflow}") == 2
    assert "POSTGRES_PASSWORD=" in (DOCKER.parent / ".env.example").read_text()
