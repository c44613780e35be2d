"""The pages people use, served by the API app: the foundation every page set shares (layout,
assets from npm served by this origin, forms, sessions with CSRF protection) and the member's
pages at ``/me/`` (docs/web.md)."""
