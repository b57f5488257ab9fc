"""What each section of the Security page shows.

The page renders every section; the routes that change one section re-render just
that one. Both build the context here, so route modules never import each other.
"""
