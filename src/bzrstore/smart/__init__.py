"""The smart path: ``POST …/.bzr/smart`` decided (dispatch), bounded (body, verbs), served (app)."""
