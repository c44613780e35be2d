"""An event's anchor, for the parties who may read the event: its CBV 2.0 hash and the secret salt
of the commitment to it, its public form, the anchored value and its Merkle proof.

The public verification answer shows events in their public form and binds the full event only
through ``cbvCommitment = keccak256(eventSalt ‖ cbvDigest)``: without the salt nobody can test a
guess of the serials it hides. A partner holding the full event (from its own records, or from
``GET /v1/epcis/events``) gets the salt here, recomputes the CBV hash from the event, and checks
``anchored = keccak256(cbvCommitment ‖ sha256(publicForm))`` with ``isEventAnchored`` on chain.
Who may read an event is the rule of the query (``query.visible_gtins``): admins everything, an
organisation the events it wrote and those about the GTINs of its brand and the brands it works for.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlmodel import Session, col, select

from backend.db.models import EpcisEventEpc, EpcisEventRecord, MirrorEventAnchor, Organisation
from backend.errors import NotFound, Unprocessable
from backend.provenance.epcis.hashing import VERSION, hash_digest
from backend.provenance.epcis.public_form import anchored_value, cbv_commitment, public_form
from backend.provenance.epcis.query import visible_gtins
from backend.provenance.merkle import event_leaf

_NI = re.compile(r"^ni:///sha-256;([0-9a-f]{64})\?ver=" + re.escape(VERSION) + "$")
_HEX = re.compile(r"^(?:0x)?([0-9a-fA-F]{64})$")


def cbv_uri(event_hash: str) -> str:
    """The ``ni:`` URI of an event hash given as that URI or as its 32-byte digest in hex."""
    text = event_hash.strip()
    if _NI.match(text):
        return text
    if match := _HEX.match(text):
        return f"ni:///sha-256;{match.group(1).lower()}?ver={VERSION}"
    raise Unprocessable(
        "expected the event's CBV 2.0 hash: ni:///sha-256;<64 hex>?ver=CBV2.0, or the 64 hex digits", field="event_hash"
    )


def _may_read(session: Session, record: EpcisEventRecord, viewer_org: str | None) -> bool:
    if viewer_org is None or record.org_id == viewer_org:
        return True
    gtins = sorted(visible_gtins(session, viewer_org))
    about = select(EpcisEventEpc.event_pk).where(
        EpcisEventEpc.event_pk == record.id, col(EpcisEventEpc.gtin).in_(gtins)
    )
    return bool(gtins) and session.exec(about.limit(1)).first() is not None


def event_anchor(session: Session, event_hash: str, viewer_org: str | None) -> dict[str, Any]:
    """The anchor of one event (``viewer_org`` None: an admin). An event the viewer may not read is
    answered like one that does not exist."""
    uri = cbv_uri(event_hash)
    record = session.exec(select(EpcisEventRecord).where(EpcisEventRecord.event_hash == uri)).first()
    if record is None or not _may_read(session, record, viewer_org):
        raise NotFound(f"no event {uri} that this key may read", field="event_hash")
    digest = hash_digest(record.event_hash)
    commitment = cbv_commitment(bytes.fromhex(record.event_salt[2:]), digest)
    anchored = anchored_value(commitment, bytes.fromhex(record.public_hash[2:]))
    public, namespaces = json.loads(record.public_body), json.loads(record.namespaces)
    anchor = session.get(MirrorEventAnchor, record.anchor_root) if record.anchor_root else None
    writer = session.get(Organisation, record.org_id)
    return {
        "event_id": record.event_id,
        "event_hash": record.event_hash,
        "cbv_digest": "0x" + digest.hex(),
        "event_salt": record.event_salt,
        "cbv_commitment": "0x" + commitment.hex(),
        "public_body": public,
        "namespaces": namespaces,
        "public_form": public_form(public, namespaces),
        "public_hash": record.public_hash,
        "anchored": "0x" + anchored.hex(),
        "leaf": "0x" + event_leaf(anchored).hex(),
        "root": record.anchor_root,
        "merkle_proof": json.loads(record.anchor_proof) if record.anchor_proof is not None else None,
        "transaction": anchor.tx_hash if anchor else None,
        "block_number": anchor.block_number if anchor else None,
        "organisation": {"id": writer.id, "name": writer.name, "chain_id": writer.chain_id} if writer else None,
    }
