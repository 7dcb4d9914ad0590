"""The chaos suite: real broker processes under real faults, and a checker of what clients saw.

``nox -s chaos -- [--minutes N] [--seed S] [--brokers 3|5]`` (or ``python -m
trio_zeebe.testing.chaos``) starts a cluster over mutual TLS, drives a mixed client load through
several gateways, records every request with its outcome in a JSON-lines history, injects
faults on a seeded schedule (kill -9 of a leader, a follower, a majority, everyone; SIGSTOP
longer than an election timeout; network partitions between brokers in network namespaces; a
full disk; clock jumps), heals them, and checks that nothing acknowledged was lost. The seed and
the command that replays it are printed first; one summary line last; the exit code is 1 on any
violation.

Modules, one concept each: :mod:`.cluster` (broker processes and cluster views),
:mod:`.netns` (namespaces and cuts), :mod:`.smallfs` (size-limited data directories),
:mod:`.faults` (injectors), :mod:`.schedule` (the seeded plan), :mod:`.workload` (clients and
pluggable operation parts), :mod:`.jobs` (the job part and its invariants), :mod:`.history`
(the record), :mod:`.checker` (the verdict), :mod:`.runner` (one run), :mod:`.cli`.
"""
