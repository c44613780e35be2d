"""Request and response models of the HTTP API (unknown fields are refused)."""
