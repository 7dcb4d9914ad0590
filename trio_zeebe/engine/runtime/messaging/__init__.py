"""Messages and signals: Zeebe's message buffer and correlation protocol between the partition
of an instance and the partition of a message, message and signal start events, signal
broadcasts, and the reliable inter-partition sends they travel by (see ``docs/engine.md``)."""
