"""Provenance settings (prefix ``CREDANCE_``), kept apart from the platform settings so the
provenance knobs live with the code they tune."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.provenance.epcis.hashing import MAX_EVENT_DEPTH
from backend.settings import PROJECT_ROOT


class ProvenanceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREDANCE_", extra="ignore")

    epcis_dir: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "epcis",
        description="The official EPCIS 2.0 JSON Schema and context (beside the clone, in ../shared/epcis).",
    )
    epcis_max_events: int = Field(default=10_000, ge=1, description="Events per captured document.")
    epcis_max_depth: int = Field(
        default=32, ge=4, le=MAX_EVENT_DEPTH, description="Deepest nesting inside one event (extensions, ILMD)."
    )
    anchor_batch_size: int = Field(default=256, ge=1, le=65_536, description="Event hashes per on-chain anchor.")
    anchor_max_delay_ms: int = Field(default=2_000, ge=0, description="Longest wait to fill an anchor batch.")
    anchor_poll_ms: int = Field(default=200, ge=10)

    # Clone detection: a serial is suspicious when it is scanned …
    clone_max_speed_kmh: float = Field(default=900.0, gt=0, description="… faster apart than a plane flies,")
    clone_min_distance_km: float = Field(default=50.0, ge=0, description="… (ignoring scans this close),")
    clone_max_scans: int = Field(default=20, ge=1, description="… more often than this …")
    clone_window_hours: float = Field(default=24.0, gt=0, description="… within this many hours,")
    clone_scans_after_sale: int = Field(default=5, ge=0, description="… or more often than this after its sale.")
    # … but anonymous, self-reported scans only count when they are corroborated (finding 7):
    clone_min_clients: int = Field(
        default=3, ge=2, description="Distinct client networks whose anonymous scans corroborate a place or a rate."
    )
    clone_scans_per_client: int = Field(
        default=3, ge=1, description="Scans of one client that count towards 'too often' (the rest are repeats)."
    )
    clone_scan_sample: int = Field(
        default=200, ge=10, le=5_000, description="Most recent located scans weighed for impossible travel."
    )
    scan_client_secret: SecretStr | None = Field(
        default=None, description="Key of the client-network hashes; default: scan-client.key in CREDANCE_HOME."
    )

    @property
    def schema_path(self) -> Path:
        return self.epcis_dir / "EPCIS-JSON-Schema.json"


@lru_cache
def get_provenance_settings() -> ProvenanceSettings:
    return ProvenanceSettings()
