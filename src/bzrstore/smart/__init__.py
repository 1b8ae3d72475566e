"""The smart path, ``POST …/.bzr/smart``: dispatch (policy) -> body -> verbs -> app (Breezy).

Read in that order: ``dispatch`` decides (names, registry, auth, limits) and mounts,
``body`` bounds the request body once, ``verbs`` says which verb and whether it only
reads, ``app`` runs Breezy's protocol, streaming. ``pushlog`` and ``diskfull`` are
Breezy hooks the dispatcher installs.
"""
