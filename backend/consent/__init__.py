"""Customer consent: short-lived customer tokens, one-time till codes and Sign-In with Ethereum.
Plain Python over SQL sessions, no HTTP (the API's policy layer decides who may call what)."""
