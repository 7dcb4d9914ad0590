"""gRPC over HTTP/2, the parts shared by the gateway's server and the client's channel.

Sans-IO and free of trio and anyio (both sides import these): status codes and
:class:`~.status.GrpcError` (:mod:`.status`), length-prefixed message framing with a size limit
enforced before allocating (:mod:`.framing`), the ``grpc-timeout``, ``grpc-message`` and metadata
header codecs (:mod:`.metadata`), and HTTP/2 frame boundaries (:mod:`.h2frames`).
The client channel itself is :mod:`.channel` (anyio; imported on its own).
"""
