"""The simulation and test kit: everything a test (ours or an embedder's) runs a cluster with.

* :mod:`.network` -- :class:`SimNetwork`, an in-memory ``Network`` with link faults, partitions
  and crashes, deterministic under ``trio.testing.MockClock``;
* :mod:`.disk` -- :class:`SimDisk`, an in-memory ``Disk`` that loses unsynced writes on a crash;
* :mod:`.swim_sim` -- :class:`SwimSim`, N sans-IO SWIM cores on a virtual clock (no trio);
* :mod:`.raft_group` -- :class:`SimRaftGroup`, one partition's Raft drivers on the simulated
  network and disks, with :class:`RaftChecker` watching Raft's invariants;
* :mod:`.cluster` -- :class:`SimCluster`, whole brokers in one process;
* :mod:`.processes` -- real broker processes on loopback (tests, benchmarks);
* :mod:`.bpmn` -- a fluent builder for BPMN documents.

The modules are imported one by one (nothing is re-exported here), so the pure simulator does
not pull in trio. Nothing in this package imports ``tests``.
"""
