"""Async data access, one module per aggregate."""
