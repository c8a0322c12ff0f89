"""docker/compose.shards.yaml, laid over compose.yaml: a second database service, and
every parcelflow process given both shards in settings parcelflow accepts."""

from __future__ import annotations

from pathlib import Path

import yaml

from parcelflow.settings import Settings

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def test_the_shards_file_adds_a_database_and_gives_every_process_both_shards():
    base = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]
    over = yaml.safe_load((DOCKER / "compose.shards.yaml").read_text())["services"]
    assert over["postgres-2"]["image"] == base["postgres"]["image"]
    assert over["postgres-2"]["healthcheck"]["test"][0] == "CMD"
    processes = {name for name, s in base.items() if s.get("command", [""])[0] == "parcelflow"}
    assert processes <= set(over)
    for name in processes:
        value = over[name]["environment"]["PARCELFLOW_SHARDS"].replace(
            "${POSTGRES_PASSWORD:-parcelflow}", "pw")
        urls = Settings(shards=value, _env_file=None).shard_urls()
        assert [u.split("@")[1] for u in urls] == ["postgres:5432/parcelflow",
                                                   "postgres-2:5432/parcelflow"], name
        # The first shard is the database every process already uses.
        assert base[name]["environment"]["PARCELFLOW_DATABASE_URL"].split("@")[1] == \
            "postgres:5432/parcelflow"
    assert over["api"]["depends_on"]["postgres-2"]["condition"] == "service_healthy"
