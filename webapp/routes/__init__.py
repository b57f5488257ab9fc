"""HTTP routes, one module per area; thin: parse, call a service, render."""
