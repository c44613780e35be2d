"""Configuration from the environment (prefix ``CREDANCE_``), in one typed object."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.bounds import MAX_EVENT_DEPTH
from backend.chain.nodes import DEFAULT_EVM_VERSION, DEV_CHAIN_ID, EvmVersion, NodeName, profile

PROJECT_ROOT = Path(__file__).resolve().parent.parent
__all__ = ["DEV_CHAIN_ID", "PROJECT_ROOT", "ProvenanceSettings", "Settings", "get_settings"]


class ProvenanceSettings(BaseSettings):
    """The knobs of provenance (EPCIS capture, anchoring, scan signals): the part of :class:`Settings`
    that provenance code takes, so its tests and benchmarks can build just these."""

    model_config = SettingsConfigDict(env_prefix="CREDANCE_", extra="ignore")

    epcis_dir: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "epcis",
        description="The official EPCIS 2.0 JSON Schema and context (beside the clone, in ../shared/epcis).",
    )
    epcis_max_events: int = Field(default=10_000, ge=1, description="Events per captured document.")
    epcis_max_future_s: int = Field(
        default=600, ge=0, description="How far past the server's clock an eventTime may lie (clock skew)."
    )
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


class Settings(ProvenanceSettings):
    """Every knob of the platform. See docs/operations.md, "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="CREDANCE_", extra="ignore")

    home: Path = Field(default=Path(".credance"), description="State directory (chain, database, logs).")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(default=None, description="Base URL printed in QR codes and links.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite in home by default.")

    node: NodeName = Field(
        default="anvil", description="The EVM node: anvil, ganache or hardhat (started locally unless rpc_url is set)."
    )
    evm_version: EvmVersion | None = Field(
        default=None, description="EVM version of the build: the node's newest (cancun; shanghai on Ganache) if unset."
    )
    chain_port: int = 8545
    rpc_url: str | None = Field(default=None, description="JSON-RPC endpoint; the local Anvil by default.")
    rpc_timeout: float = Field(default=10.0, gt=0, description="Seconds before a JSON-RPC call times out.")
    chain_id: int | None = Field(default=None, description="Expected chain id; checked at start-up.")
    priority_fee_gwei: Decimal = Field(default=Decimal(1), ge=0, description="EIP-1559 tip per gas.")
    base_fee_multiplier: int = Field(default=2, ge=1, description="maxFeePerGas = multiplier x base fee + tip.")
    max_fee_gwei: Decimal | None = Field(default=None, gt=0, description="Hard cap on maxFeePerGas.")
    chain_state_interval: int = Field(default=1, description="Seconds between Anvil state dumps.")
    block_time: float | None = Field(default=None, description="Anvil block time; automine when unset.")
    confirmations: int = Field(default=0, ge=0, description="Blocks on top before a block counts as confirmed.")
    deployments_dir: Path = Field(default=PROJECT_ROOT / "deployments")
    build_dir: Path = Field(default=PROJECT_ROOT / "build")
    node_modules: Path = Field(default=PROJECT_ROOT / "node_modules")

    deployer_key: SecretStr | None = Field(default=None, description="Admin/deployer private key.")
    issuer_key: SecretStr | None = Field(default=None, description="Key of the loyalty sender.")
    operator_key: SecretStr | None = Field(
        default=None, description="Hot key of the sender for rule sets, transfer policy and organisations."
    )
    keystore_password: SecretStr | None = Field(
        default=None, description="Encrypts organisation signing keys at rest; dev default on Anvil."
    )
    keystore_password_file: Path | None = Field(
        default=None, description="File holding the keystore password (outside CREDANCE_HOME)."
    )
    reference_secret: SecretStr | None = Field(
        default=None, description="Keys the references sent to the chain and to brands; generated in home if unset."
    )

    deployer_keystore: Path | None = Field(default=None, description="Web3 Secret Storage file of the deployer key.")
    issuer_keystore: Path | None = Field(default=None, description="Web3 Secret Storage file of the issuer key.")
    operator_keystore: Path | None = Field(default=None, description="Web3 Secret Storage file of the operator key.")
    deployer_keystore_password: SecretStr | None = Field(
        default=None, description="Password of deployer_keystore; CREDANCE_KEYSTORE_PASSWORD if unset."
    )
    issuer_keystore_password: SecretStr | None = Field(
        default=None, description="Password of issuer_keystore; CREDANCE_KEYSTORE_PASSWORD if unset."
    )
    operator_keystore_password: SecretStr | None = Field(
        default=None, description="Password of operator_keystore; CREDANCE_KEYSTORE_PASSWORD if unset."
    )

    # Request guards (backend/api/security.py). Rates are requests per second per API process.
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Largest request body.")
    max_bulk_body_bytes: int = Field(
        default=16_777_216, ge=1024, description="Largest body of bulk routes (items, recalls, EPCIS capture)."
    )
    max_json_depth: int = Field(
        default=64, ge=8, le=256, description="Deepest nesting of arrays and objects in a JSON body."
    )
    rate_limit_checkout: float = Field(default=5000.0, ge=0, description="Per checkout key; 0 disables.")
    rate_limit_key: float = Field(default=200.0, ge=0, description="Per admin or organisation key; 0 disables.")
    rate_limit_anonymous: float = Field(
        default=100.0, ge=0, description="Per client address without a valid key; 0 disables."
    )
    rate_limit_burst_seconds: float = Field(default=2.0, gt=0, description="Seconds of rate a bucket holds.")
    cors_origins: str = Field(default="", description="Comma-separated browser origins allowed to call the API.")
    forwarded_allow_ips: str = Field(
        default="", description="Proxies trusted for X-Forwarded-For (comma-separated IPs, or *); none by default."
    )

    # The per-process budget (backend/api/budget.py, docs/performance.md): requests in flight per
    # admission class, threads that may block on the database, and from them the pool size.
    admit_checkout: int = Field(default=128, ge=1, description="Purchases in flight per API process.")
    admit_reads: int = Field(default=64, ge=1, description="Balance and history reads in flight per API process.")
    admit_public: int = Field(
        default=16, ge=1, description="Public requests holding a thread or connection per process (routes, builds)."
    )
    admit_public_fast: int = Field(
        default=128, ge=1, description="Verification answers of the fast path in flight per process (no thread held)."
    )
    admit_bulk: int = Field(default=2, ge=1, description="Bulk requests (items, recalls, EPCIS) in flight per process.")
    admit_other: int = Field(default=8, ge=1, description="Other API requests in flight per API process.")
    admit_health: int = Field(default=2, ge=1, description="/readyz and /metrics in flight (/healthz is never held).")
    admit_max_wait_ms: int = Field(default=20, ge=0, le=10_000, description="Longest wait for a slot before a 503.")
    admit_retry_after_s: int = Field(default=1, ge=1, le=3600, description="Retry-After of a 503 when a class is full.")
    admit_loop_lag_ms: int = Field(
        default=25,
        ge=0,
        le=10_000,
        description="Event-loop lag beyond which a class that is full sheds more (0: never). docs/performance.md.",
    )
    read_threads: int = Field(default=4, ge=1, le=64, description="Threads (and connections) of the read executor.")
    lookup_threads: int = Field(default=2, ge=1, le=16, description="Threads for key and store look-ups.")

    # Customer consent and tenancy (docs/security/consent-and-tenancy.md).
    pii_readers: str = Field(
        default="", description="Comma-separated retailer ids whose program keys may read members' personal data."
    )
    customer_token_ttl: int = Field(default=900, ge=60, le=86_400, description="Default customer token lifetime (s).")
    customer_token_max_ttl: int = Field(default=3600, ge=60, le=86_400, description="Longest customer token (s).")
    console_session_ttl: int = Field(
        default=28_800, ge=300, le=86_400, description="Longest program console session (s), from sign-in."
    )
    till_code_ttl: int = Field(default=120, ge=30, le=900, description="Lifetime of a one-time till code (s).")
    siwe_domain: str | None = Field(
        default=None, description="Domain Sign-In with Ethereum messages must name; the public URL's by default."
    )
    siwe_nonce_ttl: int = Field(default=300, ge=30, le=3600, description="Lifetime of a Sign-In nonce (s).")

    admin_key: SecretStr | None = Field(default=None, description="Admin API key used by `make run`.")
    checkout_key: SecretStr | None = Field(default=None, description="demo-store checkout key for `make run`.")

    sender_batch_size: int = Field(default=256, ge=1, le=2000)
    sender_max_delay_ms: int = Field(default=200, ge=0)
    sender_poll_ms: int = Field(default=50, ge=1)
    sender_max_in_flight: int = Field(default=16, ge=1, le=1000, description="Transactions in flight per signer.")
    sender_receipt_timeout_s: float = Field(default=30.0, gt=0, description="Wait before rebroadcast/drop checks.")
    indexer_poll_ms: int = Field(default=200, ge=10)
    indexer_max_range: int = Field(default=2000, ge=1, description="Most blocks per eth_getLogs.")
    ready_max_lag: int = Field(default=5, ge=0, description="/readyz fails when the mirror is further behind.")

    pg_port: int = Field(default=5433, description="Port of the local PostgreSQL that `run --postgres` starts.")

    log_format: str = Field(default="console", pattern="^(console|json)$")
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _node_defaults(self) -> Settings:
        """What the node decides unless set: its EVM version (and the build directory of a
        build for another EVM than Cancun), JSON-RPC timeout, batch size and receipt timeout."""
        node = profile(self.node)
        chosen = self.model_fields_set
        if self.evm_version is None:
            self.evm_version = node.evm_version
        if "build_dir" not in chosen and self.evm_version != DEFAULT_EVM_VERSION:
            self.build_dir = PROJECT_ROOT / "build" / self.evm_version
        if "rpc_timeout" not in chosen:
            self.rpc_timeout = node.rpc_timeout
        if "sender_batch_size" not in chosen:
            self.sender_batch_size = node.sender_batch_size
        if "sender_receipt_timeout_s" not in chosen:
            self.sender_receipt_timeout_s = node.receipt_timeout
        return self

    @property
    def resolved_evm_version(self) -> EvmVersion:
        return self.evm_version or profile(self.node).evm_version

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'credance.db'}"

    @property
    def resolved_rpc_url(self) -> str:
        return self.rpc_url or f"http://127.0.0.1:{self.chain_port}"

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def pii_reader_retailers(self) -> frozenset[str]:
        return frozenset(r.strip() for r in self.pii_readers.split(",") if r.strip())

    @property
    def resolved_siwe_domain(self) -> str:
        return self.siwe_domain or urlsplit(self.resolved_public_url).netloc

    @property
    def uses_local_anvil(self) -> bool:
        return self.rpc_url is None


@lru_cache
def get_settings() -> Settings:
    return Settings()
