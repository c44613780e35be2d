"""Every route under ``/v1/customers/{customer_id}/…``, one module per concern: the account
(enrolment, balance, history), the profile (personal data, erasure, wallet claim, segments),
consent (customer tokens, till codes, Sign-In with Ethereum), spending (redemptions, transfers)
and predictions."""

from __future__ import annotations

from fastapi import APIRouter

from backend.api.routers.customers import accounts, consent, predictions, profile, spending

ROUTERS: tuple[APIRouter, ...] = tuple(m.router for m in (accounts, profile, consent, spending, predictions))
