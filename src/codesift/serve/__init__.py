"""`codesift serve`: the embedding and search HTTP service.

Layers, as in TEI: `app` (HTTP: routes, schemas, auth, limits, the error mapping) -> `batcher` (tokenize, the
two-lane token-budget queue, inference on a worker thread) -> an `Encoder` (codesift.runtime). The HTTP layer never
sees the model, and search goes through the small `SearchBackend` protocol in `search`.
"""
