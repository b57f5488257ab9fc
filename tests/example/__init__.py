"""The example page of docs/extending.md, built exactly as the guide says."""
