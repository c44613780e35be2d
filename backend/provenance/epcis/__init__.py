"""GS1 EPCIS 2.0: identifiers, schema validation, canonical event hashes, business rules on the
event stream, capture, query and export."""
