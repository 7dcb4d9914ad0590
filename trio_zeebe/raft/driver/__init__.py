"""The trio side of one partition's Raft: the driver (:mod:`.driver`) that owns the sans-IO
core and its collaborators, the only modules of :mod:`trio_zeebe.raft` that use trio:
``leadership`` (campaigns, transfers, hand-overs), ``committed`` (the committed feed),
``inbox`` (the control inputs the loop steps), ``snapshot_transfer`` (shipping snapshots) and
``proposals`` (packing proposals into entries)."""

from .driver import RaftDriver

__all__ = ["RaftDriver"]
