"""Demo data for `make run`: a retailer and its store, a brand with products and items, a customer,
and keys (admin, the store's checkout key, the retailer's program key, the brand's key).

Idempotent. Keys are shown once by design, so the demo keys are kept in CREDANCE_HOME
(mode 0600, never in the repo) to be printed again on every `make run`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from backend.api.auth import Role, create_api_key, digest
from backend.chain.keys import keystore_password
from backend.db.engine import session_scope
from backend.db.models import ApiKey, CompanyPrefix, Organisation, Product, Retailer, Store
from backend.loyalty.customers import enrol
from backend.loyalty.program import current_rule_set, publish_rule_set
from backend.loyalty.rules import RuleSet
from backend.provenance.demo import seed_history
from backend.provenance.gtin import check_digit
from backend.provenance.items import register_items
from backend.provenance.organisations import create_organisation
from backend.provenance.prefixes import assign_prefix
from backend.provenance.products import register_product
from backend.provenance.roles import OrgRole
from backend.settings import Settings

DEMO_RETAILER = "demo-retailer"
DEMO_STORE = "demo-store"
DEMO_BRAND = "demo-brand"
DEMO_CUSTOMER = "demo-customer"
DEMO_PREFIX = "9506000"  # the demo brand's GS1 company prefix: its GTINs, cases and locations lie under it
DEMO_PRODUCTS = (
    ("0950600013435", "Single-origin coffee, 250 g"),
    ("0950600013436", "Ceramic pour-over dripper"),
)


def _gtin(body: str) -> str:
    return body + str(check_digit(body))


DEMO_GTINS = tuple(_gtin(body) for body, _ in DEMO_PRODUCTS)


@dataclass
class DemoKeys:
    admin: str
    checkout: str
    brand: str
    program: str = ""


def _keys_file(settings: Settings) -> Path:
    return settings.resolved_home / "demo-keys.json"


def _ensure_key(session: Session, wanted: str | None, saved: str | None, role: Role, **scope: str) -> str:
    """Use the key from the environment, else the saved one, else make one."""
    for key in (wanted, saved):
        if key and session.exec(select(ApiKey).where(ApiKey.key_hash == digest(key))).first():
            return key
    key, _ = create_api_key(session, role, key=wanted or None, label="demo", **scope)
    return key


def ensure_rules(session: Session) -> None:
    if current_rule_set(session) is None:
        publish_rule_set(session, RuleSet(version=1))


def seed_demo(engine: Engine, settings: Settings, chain_id: int) -> DemoKeys:
    path = _keys_file(settings)
    saved = json.loads(path.read_text()) if path.exists() else {}
    with session_scope(engine) as session:
        ensure_rules(session)
        if session.get(Retailer, DEMO_RETAILER) is None:
            session.add(Retailer(id=DEMO_RETAILER, name="Demo Retailer"))
            session.flush()
        store = session.get(Store, DEMO_STORE)
        if store is None:
            store = Store(id=DEMO_STORE, name="Demo Store", currency="USD", retailer_id=DEMO_RETAILER)
            session.add(store)
        brand = session.get(Organisation, DEMO_BRAND)
        if brand is None:
            brand = create_organisation(
                session,
                DEMO_BRAND,
                "Demo Brand",
                int(OrgRole.BRAND | OrgRole.MANUFACTURER),
                keystore_password(settings, chain_id),
            )
        if session.get(CompanyPrefix, DEMO_PREFIX) is None:
            assign_prefix(session, brand, DEMO_PREFIX)  # registration needs it
            session.flush()
        for gtin, (_, name) in zip(DEMO_GTINS, DEMO_PRODUCTS, strict=True):
            if session.get(Product, gtin) is None:
                register_product(session, brand, gtin, name, description="Demo product")
                session.flush()
                register_items(session, brand, gtin, [f"SN{n:04d}" for n in range(1, 6)], lot="LOT1")
                seed_history(session, brand, gtin, [f"SN{n:04d}" for n in range(1, 6)], f"00000000{gtin[-2:]}")
        enrol(session, DEMO_CUSTOMER)
        session.flush()
        admin_secret = settings.admin_key.get_secret_value() if settings.admin_key else None
        checkout_secret = settings.checkout_key.get_secret_value() if settings.checkout_key else None
        keys = DemoKeys(
            admin=_ensure_key(session, admin_secret, saved.get("admin"), Role.ADMIN),
            checkout=_ensure_key(session, checkout_secret, saved.get("checkout"), Role.CHECKOUT, store_id=DEMO_STORE),
            brand=_ensure_key(session, None, saved.get("brand"), Role.ORGANISATION, org_id=DEMO_BRAND),
            # The retailer's own backend: it issues customer tokens (a store migrated from before
            # retailers existed belongs to the "default" retailer: the key is that one's).
            program=_ensure_key(session, None, saved.get("program"), Role.PROGRAM, retailer_id=store.retailer_id),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(keys), handle)
    return keys
