"""Identity: passwords, sign-in with throttling and lockout, sessions, API tokens."""
