"""Security alerts by email: the address, which events alert, composing and delivery."""
