"""Sessions, step-up, CSRF, headers and throttling."""
