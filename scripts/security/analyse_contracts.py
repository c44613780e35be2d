"""Static analysis gate for ``contracts/``: Slither detectors and ERC conformance, offline.

Slither and crytic-compile run our solc-js front-end (``.toolchain/solcx/solc-v0.8.30``, linked
by ``credance build``) with the OpenZeppelin remapping, so nothing is downloaded. The sources
are compiled once and analysed twice in one process:

* every Slither detector over our contracts (OpenZeppelin is filtered out); each High or Medium
  finding must be listed, with its reason, in the "Accepted Slither findings" table of
  ``contracts/SECURITY.md`` (matched by detector and ``Contract.function``, so line moves do not
  matter);
* ``slither-check-erc`` ERC-20 and ERC-2612 conformance of ``LoyaltyPoints``; each deviation must
  be listed in the "Accepted ERC deviations" table of the same file.

Run ``python scripts/security/analyse_contracts.py`` (``make slither``); ``--json FILE`` writes
the report. Exit code 0 when nothing unexplained is left, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SECURITY_MD = ROOT / "contracts" / "SECURITY.md"
SOLC = ROOT / ".toolchain" / "solcx" / "solc-v0.8.30"
REMAPPING = "@openzeppelin/=node_modules/@openzeppelin/"
GATED_IMPACTS = ("High", "Medium")
ERC_CHECKS = {"LoyaltyPoints": ("ERC20", "ERC2612")}

# A table row: | `detector` | `Contract.function` | why |
_ROW = re.compile(r"^\|\s*`(?P<check>[\w-]+)`\s*\|\s*`(?P<target>[\w.()]+)`\s*\|(?P<why>.+)\|\s*$")


@dataclass
class Finding:
    check: str
    impact: str
    confidence: str
    target: str
    description: str
    accepted: bool = False


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    erc: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    unexplained: list[str] = field(default_factory=list)
    stale_acceptances: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unexplained

    def counts(self) -> dict[str, int]:
        tally: dict[str, int] = defaultdict(int)
        for finding in self.findings:
            tally[finding.impact] += 1
        return dict(tally)


def accepted_entries(markdown: str, heading: str) -> dict[tuple[str, str], str]:
    """(check, target) → reason, from the table under ``## <heading>``."""
    entries: dict[tuple[str, str], str] = {}
    inside = False
    for line in markdown.splitlines():
        if line.startswith("## "):
            inside = line[3:].strip().lower() == heading.lower()
            continue
        match = _ROW.match(line) if inside else None
        if match:
            entries[(match["check"], match["target"])] = match["why"].strip()
    return entries


def finding_target(result: dict[str, Any]) -> str:
    """``Contract.function`` (or ``Contract``) of a Slither result's first element."""
    for element in result.get("elements", []):
        if element.get("type") == "function":
            parent = element.get("type_specific_fields", {}).get("parent", {}).get("name", "")
            return f"{parent}.{element['name']}" if parent else str(element["name"])
        if element.get("type") == "contract":
            return str(element["name"])
    return "?"


def _slither() -> Any:
    from crytic_compile import compile_all
    from slither import Slither

    if not SOLC.exists():
        raise SystemExit(f"{SOLC} is missing: run `make build` first")
    # One standard-JSON compilation of every contract (our front-end's main mode), run from the
    # project root so source names match the build's (``contracts/X.sol``).
    options: dict[str, Any] = {"solc": str(SOLC), "solc_remaps": REMAPPING, "solc_standard_json": True}
    (compilation,) = compile_all("contracts", **options)
    return Slither(compilation, filter_paths=["node_modules"], exclude_dependencies=True)


def run_detectors(slither: Any) -> list[dict[str, Any]]:
    from slither.detectors import all_detectors
    from slither.detectors.abstract_detector import AbstractDetector

    for name in dir(all_detectors):
        detector = getattr(all_detectors, name)
        if isinstance(detector, type) and issubclass(detector, AbstractDetector) and detector is not AbstractDetector:
            slither.register_detector(detector)
    results: list[dict[str, Any]] = []
    for per_detector in slither.run_detectors():
        results.extend(per_detector)
    # Slither's path filter works on results: drop anything whose first element is a dependency.
    return [r for r in results if "node_modules" not in json.dumps(r.get("elements", [])[:1])]


def check_erc(slither: Any, contract_name: str, erc: str) -> dict[str, list[str]]:
    from slither.tools.erc_conformance.__main__ import ADDITIONAL_CHECKS
    from slither.tools.erc_conformance.erc.ercs import generic_erc_checks
    from slither.utils.erc import ERCS

    (contract,) = slither.get_contract_from_name(contract_name)
    raw: dict[str, list[Any]] = defaultdict(list)
    functions, events = ERCS[erc]
    generic_erc_checks(contract, functions, events, raw)
    if erc in ADDITIONAL_CHECKS:
        ADDITIONAL_CHECKS[erc](contract, raw)
    return {kind: [str(item.get("description", "")).strip() for item in items] for kind, items in raw.items() if items}


def analyse(security_md: Path = SECURITY_MD) -> Report:
    import slither.tools.erc_conformance.__main__

    for name in ("Slither", "Slither-conformance", "CryticCompile"):
        logging.getLogger(name).setLevel(logging.ERROR)
    markdown = security_md.read_text() if security_md.exists() else ""
    accepted = accepted_entries(markdown, "Accepted Slither findings")
    accepted_erc = accepted_entries(markdown, "Accepted ERC deviations")

    slither = _slither()
    report = Report()
    seen: set[tuple[str, str]] = set()
    for result in run_detectors(slither):
        finding = Finding(
            check=result["check"],
            impact=result["impact"],
            confidence=result["confidence"],
            target=finding_target(result),
            description=result["description"].strip(),
        )
        key = (finding.check, finding.target)
        finding.accepted = key in accepted
        seen.add(key)
        report.findings.append(finding)
        if finding.impact in GATED_IMPACTS and not finding.accepted:
            report.unexplained.append(f"{finding.impact} {finding.check} in {finding.target}: {finding.description}")

    for contract_name, ercs in ERC_CHECKS.items():
        for erc in ercs:
            deviations = check_erc(slither, contract_name, erc)
            report.erc[f"{contract_name}:{erc}"] = deviations
            for kind, descriptions in deviations.items():
                seen.add((kind, contract_name))
                if (kind, contract_name) not in accepted_erc:
                    report.unexplained.extend(f"{erc} {kind} in {contract_name}: {d}" for d in descriptions)

    report.stale_acceptances = sorted(f"{c} {t}" for c, t in {*accepted, *accepted_erc} - seen)
    return report


def render(report: Report) -> str:
    lines = [f"Slither findings in contracts/ by impact: {report.counts() or 'none'}"]
    for finding in sorted(
        report.findings,
        key=lambda f: ((*GATED_IMPACTS, "Low")).index(f.impact) if f.impact in (*GATED_IMPACTS, "Low") else 9,
    ):
        mark = "accepted" if finding.accepted else ("UNEXPLAINED" if finding.impact in GATED_IMPACTS else "info")
        lines.append(f"  [{mark}] {finding.impact}/{finding.confidence} {finding.check} in {finding.target}")
    for name, deviations in report.erc.items():
        lines.append(f"{name}: " + ("conforms" if not deviations else ", ".join(sorted(deviations))))
    if report.stale_acceptances:
        lines.append("accepted in SECURITY.md but no longer reported: " + "; ".join(report.stale_acceptances))
    lines.extend(f"UNEXPLAINED: {item}" for item in report.unexplained)
    lines.append("OK: no unexplained high or medium finding" if report.ok else "FAILED")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, help="write the report as JSON")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    report = analyse()
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps({**asdict(report), "ok": report.ok, "counts": report.counts()}, indent=1))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
