"""Repositories on disk: names, the jail, creating them, and the Breezy operations on them."""
